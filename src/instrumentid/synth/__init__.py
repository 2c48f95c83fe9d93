"""``instrumentid synth``: IRMAS-format datasets rendered from SoundFonts, real notes and a voice synthesiser.

Public API::

    render_dataset(out_dir, train_per_class=..., test_excerpts=..., negatives=0, seed=0, jobs=1, ...) -> Path
    render_clip(instrument, kind="train", genre=None, seed=0, duration_s=3.0, ...) -> Clip
    plan_dataset(...), pending(out_dir, plan), read_manifest(out_dir)
    find_soundfonts(explicit=None) -> list[Path]

See docs/synth.md.
"""

from instrumentid.synth.dataset import (
    COLUMNS,
    PlannedClip,
    default_shared_data,
    pending,
    plan_dataset,
    read_manifest,
    render_clip,
    render_dataset,
)
from instrumentid.synth.mix import Clip, ClipSpec, Engine
from instrumentid.synth.soundfonts import INSTALL_HINT, PROGRAMS, find_soundfonts, require_soundfonts

__all__ = [
    "COLUMNS",
    "INSTALL_HINT",
    "PROGRAMS",
    "Clip",
    "ClipSpec",
    "Engine",
    "PlannedClip",
    "default_shared_data",
    "find_soundfonts",
    "pending",
    "plan_dataset",
    "read_manifest",
    "render_clip",
    "render_dataset",
    "require_soundfonts",
]

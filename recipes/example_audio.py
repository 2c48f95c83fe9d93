"""Render the bundled example recording (``src/instrumentid/assets/example.ogg``).

    python recipes/example_audio.py [--seed 4] [--genre pop_roc]

A 12 s multi-instrument excerpt rendered by ``instrumentid synth`` from the MIT-licensed
FluidR3 GM SoundFont only (no real notes or recordings, so the file carries no third-party
licence), saved as OGG Vorbis. Its labels are printed and written beside it (``example.txt``),
so ``make demo`` shows what the model should find.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "src" / "instrumentid" / "assets"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--genre", default="pop_roc")
    parser.add_argument("--soundfont", default="/usr/share/sounds/sf2/FluidR3_GM.sf2")
    args = parser.parse_args()

    from instrumentid import audio
    from instrumentid.synth import render_clip

    clip = render_clip(
        kind="test",
        genre=args.genre,
        seed=args.seed,
        duration_s=12.0,
        sample_rate=44_100,
        soundfonts=[args.soundfont],
        shared_data=False,
    )
    target = audio.write(ASSETS / "example.ogg", clip.waveform, 44_100, subtype="VORBIS")
    (ASSETS / "example.txt").write_text("".join(f"{code}\n" for code in clip.labels))
    print(
        f"wrote {target} ({target.stat().st_size / 1e3:.0f} kB): labels {', '.join(clip.labels)}; "
        f"programs {', '.join(clip.programs)}"
    )


if __name__ == "__main__":
    main()

"""instrumentid: which musical instruments play in a recording.

>>> from instrumentid import load_model
>>> model = load_model()                 # the bundled default model
>>> record = model.predict("song.wav")   # {"file", "duration_s", "scores", "present", ...}
"""

from __future__ import annotations

__version__ = "0.1.0"

from instrumentid.labels import LABELS, NAMES


def load_model(path=None, **kwargs):
    """Load a model bundle (the bundled default when ``path`` is None) as a :class:`Predictor`."""
    from instrumentid.inference.predictor import Predictor

    return Predictor.from_bundle(path, **kwargs)


__all__ = ["LABELS", "NAMES", "__version__", "load_model"]

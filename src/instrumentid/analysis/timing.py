"""Inference speed: prediction time against audio duration.

Durations of 10…600 s, as the Lumen Data Science 2023 2nd-place system measured it.

Synthetic audio of each duration (tones + noise at the model's sample rate) is written to a
temporary folder and ``Predictor.predict_file`` is timed on it (best of ``repeats`` runs, after
one warm-up), so decoding, windowing, the forward passes and aggregation are all counted.
"""

from __future__ import annotations

import csv
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from instrumentid.errors import ConfigError

#: Durations (s) timed by default.
DEFAULT_DURATIONS = (10, 30, 60, 120, 300, 600)


def synthetic_audio(seconds: float, sample_rate: int, *, seed: int = 0) -> np.ndarray:
    """A mono test signal: a few drifting tones plus noise, float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate), dtype=np.float64) / sample_rate
    y = sum(np.sin(2 * np.pi * f * t * (1 + 0.01 * np.sin(0.3 * t))) for f in (220.0, 330.0, 587.0))
    return (0.2 * y / 3 + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def time_predictor(predictor, durations_s: Sequence[float], *, repeats: int = 1, workdir=None) -> list[dict]:
    """``[{"duration_s", "seconds", "real_time_factor"}]``: best-of-``repeats`` time of ``predict_file``."""
    from instrumentid import audio

    if repeats < 1:
        raise ConfigError(f"repeats must be at least 1, got {repeats}", option="repeats")
    rows = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        warm = audio.write(
            Path(tmp) / "warmup.wav",
            synthetic_audio(2 * predictor.window_s, predictor.sample_rate),
            predictor.sample_rate,
        )
        predictor.predict_file(warm)
        for duration in durations_s:
            path = audio.write(
                Path(tmp) / f"{duration:g}s.wav",
                synthetic_audio(duration, predictor.sample_rate),
                predictor.sample_rate,
            )
            best = np.inf
            for _ in range(repeats):
                start = time.perf_counter()
                predictor.predict_file(path)
                best = min(best, time.perf_counter() - start)
            path.unlink()
            rows.append(
                {"duration_s": float(duration), "seconds": float(best), "real_time_factor": float(best / duration)}
            )
    return rows


def timing_report(model, durations_s: Sequence[float], out, *, repeats: int = 1) -> dict:
    """Time bundle ``model``; write ``timing.csv`` and ``timing.png`` into ``out``."""
    from instrumentid.evaluation import plots as P
    from instrumentid.inference.predictor import Predictor

    predictor = Predictor.from_bundle(model)
    rows = time_predictor(predictor, durations_s, repeats=repeats)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "timing.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["duration_s", "seconds", "real_time_factor"])
        writer.writeheader()
        writer.writerows(rows)
    png = P.timing(
        [r["duration_s"] for r in rows],
        [r["seconds"] for r in rows],
        out / "timing.png",
        title=f"Prediction time vs audio duration ({predictor.info.model_name}, CPU)",
    )
    return {"rows": rows, "csv": out / "timing.csv", "png": png}

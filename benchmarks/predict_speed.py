"""Predict speed and memory on this machine (a benchmark, not a test).

Reports, for the bundled default model (or --model):
* end-to-end real-time factor of ``Predictor.predict_file`` on a 10-minute 44.1 kHz stereo
  WAV (audio seconds per wall second; target >= 200x on 2 CPU cores),
* the same for decode + resample alone (the floor set by I/O), and their ratio,
* peak RSS of a fresh process predicting a 1-minute vs a 60-minute file (target < 1 GB and
  within 20% of each other: memory must not grow with length).

    python benchmarks/predict_speed.py [--model BUNDLE] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf


def write_wav(path: Path, minutes: float, sample_rate: int = 44_100) -> Path:
    """Stereo noise + chords written in one-minute blocks (never all in memory)."""
    rng = np.random.default_rng(0)
    t = np.arange(sample_rate * 60) / sample_rate
    chord = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    with sf.SoundFile(path, "w", samplerate=sample_rate, channels=2, subtype="PCM_16") as handle:
        remaining = int(minutes * 60 * sample_rate)
        while remaining > 0:
            n = min(remaining, t.size)
            block = chord[:n] + 0.05 * rng.standard_normal(n)
            handle.write(np.stack([block, block[::-1]], axis=1).astype(np.float32))
            remaining -= n
    return path


PEAK_RSS = """
import resource, sys
from instrumentid.predict import Predictor
Predictor.from_bundle(sys.argv[1] if sys.argv[1] != '-' else None).predict_file(sys.argv[2])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_rss_mb(model: str | None, path: Path) -> float:
    out = subprocess.run([sys.executable, "-c", PEAK_RSS, model or "-", str(path)], capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="bundle (default: the bundled model)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from instrumentid import audio
    from instrumentid.predict import Predictor

    predictor = Predictor.from_bundle(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        ten = write_wav(Path(tmp) / "ten_minutes.wav", 10)
        duration = 600.0
        predictor.predict_file(ten)  # warm-up
        e2e, decode = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            predictor.predict_file(ten)
            e2e.append(time.perf_counter() - start)
            start = time.perf_counter()
            for _block in audio.stream(ten, sample_rate=predictor.sample_rate):
                pass
            decode.append(time.perf_counter() - start)
        one = write_wav(Path(tmp) / "one_minute.wav", 1)
        sixty = write_wav(Path(tmp) / "sixty_minutes.wav", 60)
        rss_1, rss_60 = peak_rss_mb(args.model, one), peak_rss_mb(args.model, sixty)
    result = {
        "model": args.model or "bundled default",
        "e2e_realtime_factor": round(duration / min(e2e), 1),
        "decode_resample_realtime_factor": round(duration / min(decode), 1),
        "e2e_share_of_decode_speed": round(min(decode) / min(e2e), 3),
        "peak_rss_mb_1min": round(rss_1, 1),
        "peak_rss_mb_60min": round(rss_60, 1),
        "rss_ratio_60_to_1": round(rss_60 / rss_1, 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

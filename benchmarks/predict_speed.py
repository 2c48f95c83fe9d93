"""Predict speed, start-up and memory on this machine (a benchmark, not a test).

For each bundled model (default, fast; or --model ...), in one run, on each runtime (the shipped
ONNX graph in onnxruntime, what a bundled name runs by default and the slim install has, and the
bundle in PyTorch, ``--runtime torch``):

* **process** real-time factor: ``instrumentid predict TEN_MINUTES.wav`` as a fresh process,
  start-up included (audio seconds per wall second; issue 20's targets on 2 CPU cores:
  default >= 300x),
* **in-process** ("steady") real-time factor of ``Predictor.predict_file`` on the same file
  (target: fast >= 900x), and decode + resample alone (the floor set by I/O),
* peak RSS of a fresh process predicting a 1-minute vs a 60-minute file (target < 1 GB, flat),
* the onnxruntime-over-torch speed-up ratios, and onnxruntime's time per batch size relative to
  8 windows (its default),
* for the default model in PyTorch, ratios measured side by side: 1 vs 2 torch threads, batch
  8/32/64/128 windows, and the YAMNet backbone with contiguous vs channels-last activations,
* start-up: ``instrumentid --help``, ``instrumentid predict`` on a 1-s file (target 0.6 s) and
  ``import torch``, wall seconds.

    python benchmarks/predict_speed.py [--model default --model fast] [--repeats 3] [--no-torch]
"""

from __future__ import annotations

import argparse
import importlib.util
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


# VmHWM, not getrusage: ru_maxrss keeps the parent's peak across fork + exec (this benchmark's own, with torch)
PEAK_RSS = """
import sys
from instrumentid.inference.predictor import Predictor
Predictor.from_bundle(sys.argv[1], runtime=sys.argv[3]).predict_file(sys.argv[2])
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024)
"""


def peak_rss_mb(model: str, path: Path, runtime: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, model, str(path), runtime], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def wall(command: list[str], repeats: int) -> float:
    """Best wall time of a command over ``repeats`` runs."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def best_of(repeats: int, fn) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "instrumentid.cli", *args]


def model_speed(model: str, runtime: str, ten: Path, one: Path, sixty: Path, repeats: int) -> dict:
    from instrumentid import audio
    from instrumentid.inference.predictor import Predictor

    predictor = Predictor.from_bundle(model, runtime=runtime)
    predictor.predict_file(ten)  # warm-up
    process = wall(
        cli("predict", str(ten), "--model", model, "--runtime", runtime, "--format", "json", "--quiet"), repeats
    )
    in_process = best_of(repeats, lambda: predictor.predict_file(ten))
    decode = best_of(repeats, lambda: [None for _ in audio.stream(ten, sample_rate=predictor.sample_rate)])
    rss_1, rss_60 = peak_rss_mb(model, one, runtime), peak_rss_mb(model, sixty, runtime)
    return {
        "process_realtime_factor": round(600 / process, 1),
        "process_seconds": round(process, 2),
        "in_process_realtime_factor": round(600 / in_process, 1),
        "decode_resample_realtime_factor": round(600 / decode, 1),
        "peak_rss_mb_1min": round(rss_1, 1),
        "peak_rss_mb_60min": round(rss_60, 1),
        "rss_ratio_60_to_1": round(rss_60 / rss_1, 3),
    }


def default_model_ratios(ten: Path, repeats: int) -> dict:
    """Threads, batch size and memory format, each compared in this one run."""
    import torch

    from instrumentid.inference.predictor import Predictor
    from instrumentid.models.yamnet import YamnetBackbone

    out = {}
    base_threads = torch.get_num_threads()
    times = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        times[threads] = best_of(repeats, lambda: Predictor.from_bundle("default", runtime="torch").predict_file(ten))
    torch.set_num_threads(base_threads)
    out["two_threads_speedup_over_one"] = round(times[1] / times[2], 2)
    batch = {
        size: best_of(
            repeats, lambda s=size: Predictor.from_bundle("default", runtime="torch", batch_size=s).predict_file(ten)
        )
        for size in (8, 32, 64, 128)
    }
    out["batch_time_relative_to_64"] = {str(k): round(v / batch[64], 2) for k, v in batch.items()}

    backbone = YamnetBackbone().eval()
    x = torch.randn(32, 1, 64, 298)
    with torch.inference_mode():

        def plain():
            h = x.transpose(2, 3).contiguous()
            for block in backbone.blocks:
                h = block(h)

        channels_last = best_of(repeats, lambda: backbone(x))
        out["channels_last_speedup"] = round(best_of(repeats, plain) / channels_last, 2)
    return out


def both_runtimes(model: str, ten: Path, one: Path, sixty: Path, repeats: int, torch: bool) -> dict:
    """A bundled model on onnxruntime (its shipped graph) and, unless ``torch`` is False, in PyTorch,
    with the speed-up ratios of the first over the second."""
    out = {"onnxruntime": model_speed(model, "onnxruntime", ten, one, sixty, repeats)}
    out["onnxruntime"]["batch_time_relative_to_8"] = onnx_batch_ratios(model, ten, repeats)
    if torch:
        out["torch"] = model_speed(model, "torch", ten, one, sixty, repeats)
        for key in ("process_realtime_factor", "in_process_realtime_factor"):
            out[f"onnxruntime_over_torch_{key}"] = round(out["onnxruntime"][key] / out["torch"][key], 2)
    return out


def onnx_batch_ratios(model: str, ten: Path, repeats: int) -> dict:
    """In-process time of the 10-min file per onnxruntime batch size, relative to 8 (its default)."""
    from instrumentid.inference.predictor import Predictor

    times = {
        size: best_of(
            repeats, lambda s=size: Predictor.from_bundle(model, runtime="onnxruntime", batch_size=s).predict_file(ten)
        )
        for size in (4, 8, 16, 64)
    }
    return {str(k): round(v / times[8], 2) for k, v in times.items()}


def startup(one: Path, repeats: int) -> dict:
    out = {
        "help_seconds": round(wall(cli("--help"), repeats), 2),
        "predict_1s_file_seconds": round(wall(cli("predict", str(one), "--quiet"), repeats), 2),
    }
    if importlib.util.find_spec("torch") is not None:
        out["import_torch_seconds"] = round(wall([sys.executable, "-c", "import torch"], repeats), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="bundled name or path (repeatable; default: default, fast)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-torch", action="store_true", help="onnxruntime only (the slim install)")
    args = parser.parse_args()
    models = args.model or ["default", "fast"]

    with tempfile.TemporaryDirectory() as tmp:
        ten = write_wav(Path(tmp) / "ten_minutes.wav", 10)
        one = write_wav(Path(tmp) / "one_minute.wav", 1)
        sixty = write_wav(Path(tmp) / "sixty_minutes.wav", 60)
        second = Path(tmp) / "one_second.wav"
        sf.write(second, sf.read(one, frames=44_100)[0], 44_100)
        result = {
            "models": {m: both_runtimes(m, ten, one, sixty, args.repeats, not args.no_torch) for m in models},
            "startup": startup(second, args.repeats),
        }
        if "default" in models and not args.no_torch:
            result["default_torch_ratios"] = default_model_ratios(ten, args.repeats)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

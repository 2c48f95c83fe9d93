"""Corpus throughput: the local engine against the Ray engine on the same folder (a benchmark, not a test).

Writes ``--files`` WAVs of ``--seconds`` each (44.1 kHz stereo noise + chords), then predicts the
folder with, in one run:

* the local engine (``Predictor.predict_files``, one process),
* the Ray engine on a local cluster of this machine's CPUs (``instrumentid.inference.ray_engine``), with one
  scoring actor and with the default pool,

and reports audio seconds per wall second (real-time factor), per CPU core, and Ray's fixed
start-up cost (cluster start + first record).

    python benchmarks/batch_speed.py [--model default] [--files 40] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from predict_speed import write_wav


def timed(records) -> tuple[float, float, int]:
    """(seconds to the first record, total seconds, records) of a record iterator."""
    start = time.perf_counter()
    first, count = None, 0
    for _ in records:
        count += 1
        first = first if first is not None else time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="bundled name, bundle or .onnx graph")
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()

    import ray

    from instrumentid.inference.predictor import Predictor, find_audio_files
    from instrumentid.inference.ray_engine import predict_files

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.files):
            write_wav(Path(tmp) / f"{i:05d}.wav", args.seconds / 60)
        paths = find_audio_files([tmp])
        audio_s = args.files * args.seconds
        result = {"model": args.model, "files": args.files, "seconds_each": args.seconds, "cpu_cores": cores}

        _, local_s, _ = timed(Predictor.from_bundle(args.model).predict_files(paths))
        result["local_realtime_factor"] = round(audio_s / local_s, 1)

        start = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        result["ray_cluster_start_s"] = round(time.perf_counter() - start, 2)
        for actors in (1, None):
            first, total, count = timed(predict_files(paths, args.model, actors=actors))
            assert count == args.files
            key = "ray_1_actor" if actors == 1 else "ray_default_pool"
            result[key] = {
                "realtime_factor": round(audio_s / total, 1),
                "first_record_s": round(first, 2),
                "seconds": round(total, 2),
            }
        ray.shutdown()
    result["ray_default_pool"]["realtime_factor_per_core"] = round(
        result["ray_default_pool"]["realtime_factor"] / cores, 1
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

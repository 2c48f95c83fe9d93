"""Clips per minute of `instrumentid synth` (3 s training clips written to disk).

Not a test. Usage::

    .venv/bin/python benchmarks/synth_speed.py [--jobs 2] [--per-class 20] [--classes irmas|extended|all|codes]
        [--test-excerpts N] [--no-shared-data] [--soundfont PATH]...

Reports the steady-state rate (workers already started and SoundFonts loaded) and the
end-to-end rate including start-up (loading an .sf3 takes several seconds per worker).
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

from instrumentid.labels import parse_label_set
from instrumentid.synth import dataset
from instrumentid.synth.soundfonts import renderable, require_soundfonts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--per-class", type=int, default=20, help="training clips per class")
    parser.add_argument("--classes", default="irmas", help="class set, as synth --classes (default irmas)")
    parser.add_argument("--test-excerpts", type=int, default=0, help="also 3 s test excerpts (ensembles)")
    parser.add_argument("--soundfont", action="append")
    parser.add_argument("--no-shared-data", action="store_true")
    args = parser.parse_args()
    fonts = require_soundfonts(args.soundfont)
    shared = None if args.no_shared_data else dataset.default_shared_data()
    classes = tuple(c for c in parse_label_set(args.classes) if renderable(c))
    plan = dataset.plan_dataset(
        train_per_class=args.per_class,
        test_excerpts=args.test_excerpts,
        seed=1,
        classes=classes,
        test_seconds=(3.0, 3.0),
    )
    warm = dataset.plan_dataset(train_per_class=1, test_excerpts=0, seed=2, classes=classes[:2])
    with tempfile.TemporaryDirectory() as tmp:
        for clip in plan + warm:
            (Path(tmp) / clip.file).parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(
            args.jobs, initializer=dataset._init_worker, initargs=(fonts, shared, 44100)
        ) as pool:
            list(pool.imap_unordered(dataset._render_one, [(c, tmp) for c in warm], chunksize=1))
            ready = time.perf_counter()
            list(pool.imap_unordered(dataset._render_one, [(c, tmp) for c in plan], chunksize=2))
            done = time.perf_counter()
    n = len(plan)
    print(f"soundfonts: {', '.join(f.name for f in fonts)}; shared data: {shared}")
    print(f"jobs={args.jobs}: start-up + {len(warm)} warm-up clips {ready - start:.1f} s")
    print(f"steady state: {n} clips in {done - ready:.1f} s = {60 * n / (done - ready):.0f} clips/min")
    total = n + len(warm)
    print(f"end to end:   {total} clips in {done - start:.1f} s = {60 * total / (done - start):.0f} clips/min")


if __name__ == "__main__":
    main()

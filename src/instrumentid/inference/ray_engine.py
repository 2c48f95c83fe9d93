"""Corpus-scale prediction on Ray Data: the same records as the local engine, from many cores
or many machines.

The pipeline over a file list:

1. ``map`` (Ray tasks, spread over the cluster): decode, resample and cut each file into the
   model's windows (:meth:`instrumentid.inference.contract.Framing.read`), or an error for that file;
2. ``map_batches`` (a pool of Ray actors, each loading the model once from the file the driver
   resolved and validated): score the windows in batches
   (:func:`instrumentid.inference.contract.score_batches`) and build each file's record with the
   model's thresholds and aggregation (:meth:`instrumentid.inference.predictor.Predictor.record`);
3. records stream back to the caller as they finish (completion order, not input order).

>>> from instrumentid.inference.ray_engine import predict_files
>>> for record in predict_files(["a.wav", "b.mp3"], model="default"):
...     print(record["file"], record["present"])

Needs the ``scale`` extra (``pip install 'instrumentid[scale]'``). ``address=None`` starts a
local cluster on this machine; ``"auto"`` (or ``ray://host:10001``) joins an existing one.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from instrumentid.errors import AudioError, ConfigError, InstrumentIdError
from instrumentid.extras import need
from instrumentid.inference import schema
from instrumentid.inference.contract import Framing, SignalLevel, score_batches
from instrumentid.inference.predictor import Predictor, check_path, printable_name
from instrumentid.inference.runtimes import OnnxRuntime


def _ray():
    return need("ray", "the Ray engine")


def decode_row(row: dict, framing: Framing) -> dict:
    """One file → its windows and signal level, or its error (a Ray ``map`` task)."""
    path = row["path"]
    try:
        level, starts, windows = framing.read(path)
    except InstrumentIdError as exc:
        return {
            "path": path,
            "error": str(exc),
            "windows": b"",
            "n": 0,
            "starts": b"",
            "samples": 0,
            "peak": 0.0,
            "energy": 0.0,
        }
    # windows travel as bytes: files differ in window count, and Arrow takes ragged bytes as they are
    return {
        "path": path,
        "error": "",
        "windows": windows.astype(np.float32).tobytes(),
        "n": len(windows),
        "starts": starts.astype(np.float64).tobytes(),
        "samples": level.samples,
        "peak": level.peak,
        "energy": level.energy,
    }


class ScoreActor:
    """Loads the model once; scores decoded files into records (a Ray ``map_batches`` actor)."""

    def __init__(self, path: str, onnx: bool, batch_size: int | None, threads: int, options: dict) -> None:
        if not onnx:
            import torch

            torch.set_num_threads(threads)
        runtime = "onnxruntime" if onnx else "torch"
        self.predictor = Predictor.from_bundle(path, runtime=runtime, batch_size=batch_size, threads=threads)
        self.options = options

    def __call__(self, batch: dict) -> dict:
        return {"record": [json.dumps(self._record(batch, i)) for i in range(len(batch["path"]))]}

    def _record(self, batch: dict, i: int) -> dict:
        path = str(batch["path"][i])
        if batch["error"][i]:
            return schema.error_record(path, str(batch["error"][i]))
        predictor = self.predictor
        windows = np.frombuffer(batch["windows"][i], dtype=np.float32).reshape(int(batch["n"][i]), -1)
        starts = np.frombuffer(batch["starts"][i], dtype=np.float64)
        starts, scores, levels = score_batches(
            predictor.score_windows, zip(starts, windows, strict=True), predictor.batch_size, pool=predictor.score_pool
        )
        level = SignalLevel(predictor.sample_rate, batch["samples"][i], batch["peak"][i], batch["energy"][i])
        return predictor.record(path, level, starts, scores, levels, **self.options)


def predict_files(
    paths: Iterable[str | os.PathLike],
    model: str | os.PathLike | Predictor | None = None,
    *,
    runtime: str = "auto",
    address: str | None = None,
    actors: int | None = None,
    threads_per_actor: int = 1,
    batch_size: int | None = None,
    segments: bool = False,
    threshold: float | None = None,
    aggregation: str | None = None,
    labels: Sequence[str] | None = None,
) -> Iterator[dict]:
    """Records of ``paths`` computed on a Ray cluster (see the module docs).

    ``model``: a bundle path, an ``.onnx`` graph, a bundled name, or a :class:`Predictor` already
    opened from a file (then nothing is loaded twice on this machine; ``runtime`` is its own).
    ``actors``: scoring actors (default: the cluster's CPUs minus one for decoding, at least one),
    each using ``threads_per_actor`` CPU threads.
    """
    ray = _ray()
    # resolved and validated once, before the cluster starts; the actors load the resolved file
    local = model if isinstance(model, Predictor) else Predictor.from_bundle(model, runtime=runtime)
    if local.runtime.path is None:
        raise ConfigError("the Ray engine needs a model loaded from a file (its actors load it again)")
    local.label_columns(labels)  # and the label subset
    items = []
    for path in paths:
        try:
            check_path(path)  # as the local engine: unlisted folders and non-UTF-8 names are error records
        except AudioError as exc:
            yield schema.error_record(printable_name(path), str(exc))
            continue
        items.append({"path": str(path)})
    if not items:
        return
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.execution_options.verbose_progress = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    actors = actors or max(1, (cpus - 1) // threads_per_actor)
    options = {
        "segments": segments,
        "threshold": threshold,
        "aggregation": aggregation,
        "labels": None if labels is None else list(labels),
    }
    with warnings.catch_warnings():
        # Ray 2.60 deprecates passing actor options such as max_restarts as keyword arguments but
        # names no replacement for it yet; a failed actor must not be restarted silently
        warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
        dataset = (
            ray.data.from_items(items)
            .map(decode_row, fn_kwargs={"framing": local.framing})
            .map_batches(
                ScoreActor,
                batch_size=4,
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=threads_per_actor,
                max_restarts=0,
                fn_constructor_kwargs={
                    "path": str(local.runtime.path),
                    "onnx": isinstance(local.runtime, OnnxRuntime),
                    "batch_size": batch_size,
                    "threads": threads_per_actor,
                    "options": options,
                },
            )
        )
    for row in dataset.iter_rows():
        yield json.loads(row["record"])

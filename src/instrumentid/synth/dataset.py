"""IRMAS-format dataset layout, manifest, resume and parallel rendering.

Layout under ``out_dir``::

    IRMAS-TrainingData/<code>/[<code>][<genre>]NNNN__K.wav   3 s stereo 16-bit clips
    IRMAS-TestingData/<song>-K.wav + <song>-K.txt            5-20 s excerpts, one code per line
    negatives/neg_NNNN.wav                                   no instrument of the label space (optional)
    manifest.csv                                             one row per finished clip

Every clip's seed derives from ``(seed, split, class, number)``, so output does not depend on
``jobs`` or on resuming. A clip counts as finished when its files exist and its manifest row
(with the same seed) is written; the manifest is rewritten atomically as clips finish.
"""

from __future__ import annotations

import contextlib
import csv
import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instrumentid import audio
from instrumentid.errors import SynthError
from instrumentid.fileio import atomic_path, progress_bar
from instrumentid.labels import BY_CODE, EXTENDED, GENRES, LABELS, NAMES, VOCABULARY
from instrumentid.synth.ensembles import ENSEMBLES, ensembles_for, genre_for
from instrumentid.synth.mix import NEGATIVE_KINDS, ClipSpec, Engine, negative_kinds
from instrumentid.synth.soundfonts import renderable, require_soundfonts

TRAIN_DIR, TEST_DIR, NEG_DIR, MANIFEST = "IRMAS-TrainingData", "IRMAS-TestingData", "negatives", "manifest.csv"
COLUMNS = ("file", "split", "labels", "genre", "programs", "soundfont", "seed", "effects", "duration_s")
#: Extra manifest column, written only by runs that render extended ensembles (kind of ensemble).
ENSEMBLE_COLUMN = "ensemble"
_SPLIT_ID = {"train": 0, "test": 1, "negative": 2, "tone": 3}
_NEG_WEIGHTS = {"drums_bass": 2, "drums": 1, "bass": 1, "other": 1, "noise": 1.5, "real": 3, "real_drums": 1.5}


@dataclass(frozen=True)
class PlannedClip:
    spec: ClipSpec
    file: str  # wav path relative to out_dir
    label_file: str | None = None  # txt path (test excerpts)


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def default_shared_data() -> Path | None:
    """``<repo>/../shared/data`` when it exists (a development checkout), else ``None``."""
    candidate = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def check_classes(classes: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``classes`` as a tuple, each a renderable vocabulary code; :class:`SynthError` otherwise."""
    unknown = [c for c in classes if c not in BY_CODE]
    if unknown:
        raise SynthError(f"unknown class code(s) {', '.join(unknown)}; expected some of {', '.join(VOCABULARY)}")
    silent = [c for c in classes if not renderable(c)]
    if silent:
        raise SynthError(unrenderable_message(silent))
    return tuple(classes)


def unrenderable_message(codes: list[str]) -> str:
    """One line naming codes that cannot be rendered."""
    names = ", ".join(f"{c} ({NAMES[c]})" for c in codes)
    return f"cannot render {names}: General MIDI has no such instrument and no real notes for it are available"


def plan_dataset(
    *,
    train_per_class: int,
    test_excerpts: int,
    negatives: int = 0,
    seed: int = 0,
    classes: tuple[str, ...] | list[str] = LABELS,
    train_seconds: float = 3.0,
    test_seconds: tuple[float, float] = (5.0, 20.0),
    tones: int = 0,
) -> list[PlannedClip]:
    """Every clip to render, with names and seeds (pure function of the arguments).

    ``classes`` are vocabulary codes; with extended codes among them, test excerpts are
    :data:`~instrumentid.synth.ensembles.ENSEMBLES` in which some of them play. ``tones``
    test-signal negatives (``negatives/tone_NNNN.wav``) have seeds of their own, so asking for
    them leaves every other clip as it was.
    """
    for name, value in (
        ("train_per_class", train_per_class),
        ("test_excerpts", test_excerpts),
        ("negatives", negatives),
        ("tones", tones),
    ):
        if value < 0:
            raise SynthError(f"{name} must be >= 0, got {value}")
    classes = check_classes(classes)
    if not 0 < test_seconds[0] <= test_seconds[1]:
        raise SynthError(f"test_seconds must be 0 < min <= max, got {test_seconds}")
    plan = [c for code in classes for c in _plan_train(code, train_per_class, seed, classes, train_seconds)]
    plan += _plan_test(test_excerpts, seed, classes, test_seconds)
    plan += _plan_negatives(negatives, tones, seed, classes, train_seconds)
    return plan


def _plan_train(code: str, count: int, seed: int, classes: tuple[str, ...], seconds: float) -> list[PlannedClip]:
    """Training clips of ``code``: songs of 1-3 clips each, seeds from the code's vocabulary index."""
    ci = VOCABULARY.index(code)
    rng = np.random.default_rng(_seed(seed, 0, ci, 10**6))
    plan, done, song = [], 0, 0
    while done < count:
        song += 1
        song_seed = _seed(seed, 0, ci, 10**7 + song)
        genre = genre_for(code, np.random.default_rng(song_seed))
        for k in range(1, min(int(rng.integers(1, 4)), count - done) + 1):
            spec = ClipSpec(
                "train", _seed(seed, 0, ci, done), song_seed, seconds, genre, instrument=code, classes=classes
            )
            plan.append(PlannedClip(spec, f"{TRAIN_DIR}/{code}/[{code}][{genre}]{song:04d}__{k}.wav"))
            done += 1
    return plan


def _plan_test(count: int, seed: int, classes: tuple[str, ...], seconds: tuple[float, float]) -> list[PlannedClip]:
    """Test excerpts: songs of 1-3 excerpts of a genre, or of an ensemble kind with extended codes."""
    rng = np.random.default_rng(_seed(seed, 1, 10**6))
    kinds = ensembles_for(classes) if any(c in EXTENDED for c in classes) else []
    weights = np.array([ENSEMBLES[k].weight for k in kinds])
    plan, done, song, genres = [], 0, 0, list(GENRES)
    while done < count:
        song += 1
        song_seed = _seed(seed, 1, 10**7 + song)
        song_rng = np.random.default_rng(song_seed)
        kind = kinds[int(song_rng.choice(len(kinds), p=weights / weights.sum()))] if kinds else None
        genre = ENSEMBLES[kind].genre if kind else genres[int(song_rng.integers(len(genres)))]
        for k in range(1, min(int(rng.integers(1, 4)), count - done) + 1):
            duration = round(float(rng.uniform(*seconds)), 2)
            spec = ClipSpec("test", _seed(seed, 1, done), song_seed, duration, genre, ensemble=kind, classes=classes)
            stem = f"{TEST_DIR}/synth_{kind or genre}_{song:04d}-{k}"
            plan.append(PlannedClip(spec, stem + ".wav", stem + ".txt"))
            done += 1
    return plan


def _plan_negatives(count: int, tones: int, seed: int, classes: tuple[str, ...], seconds: float) -> list[PlannedClip]:
    """Negatives of the kinds that hold no code of the label space, then test tones."""
    allowed = negative_kinds(classes)
    kinds = [k for k in _NEG_WEIGHTS if k in allowed]
    weights = np.array([_NEG_WEIGHTS[k] for k in kinds])
    genres, plan = list(GENRES), []
    for i in range(count):
        r = np.random.default_rng(_seed(seed, 2, 10**6 + i))
        spec = ClipSpec(
            "negative",
            _seed(seed, 2, i),
            _seed(seed, 2, 10**7 + i),
            seconds,
            genres[int(r.integers(len(genres)))],
            negative_kind=kinds[int(r.choice(len(kinds), p=weights / weights.sum()))],
            classes=classes,
        )
        plan.append(PlannedClip(spec, f"{NEG_DIR}/neg_{i + 1:04d}.wav"))
    for i in range(tones):
        split = _SPLIT_ID["tone"]
        genre = genres[int(np.random.default_rng(_seed(seed, split, 10**6 + i)).integers(len(genres)))]
        spec = ClipSpec(
            "negative",
            _seed(seed, split, i),
            _seed(seed, split, 10**7 + i),
            seconds,
            genre,
            negative_kind="tone",
            classes=classes,
        )
        plan.append(PlannedClip(spec, f"{NEG_DIR}/tone_{i + 1:04d}.wav"))
    assert set(_NEG_WEIGHTS) | {"tone"} == set(NEGATIVE_KINDS)
    return plan


def read_manifest(out_dir: str | Path) -> dict[str, dict[str, str]]:
    """Rows of ``out_dir/manifest.csv`` keyed by file ({} when absent)."""
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        return {row["file"]: row for row in csv.DictReader(handle)}


def write_manifest(out_dir: str | Path, rows: list[dict[str, str]]) -> Path:
    """Atomically (temp file + rename) write the manifest; the ``ensemble`` column only when a
    row has one (so manifests of IRMAS-style runs keep their columns)."""
    path = Path(out_dir) / MANIFEST
    columns = COLUMNS + ((ENSEMBLE_COLUMN,) if any(row.get(ENSEMBLE_COLUMN) for row in rows) else ())
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def pending(out_dir: str | Path, plan: list[PlannedClip]) -> list[PlannedClip]:
    """Clips of ``plan`` not yet finished (missing files, or no manifest row with their seed)."""
    out_dir = Path(out_dir)
    rows = read_manifest(out_dir)
    todo = []
    for clip in plan:
        row = rows.get(clip.file)
        files = [clip.file] + ([clip.label_file] if clip.label_file else [])
        if row is None or row.get("seed") != str(clip.spec.seed) or not all((out_dir / f).is_file() for f in files):
            todo.append(clip)
    return todo


# ---------------------------------------------------------------- workers
_ENGINE: Engine | None = None


def _init_worker(
    soundfonts: list[Path], shared_data: Path | None, sample_rate: int, hold_out: tuple[str, ...] = ()
) -> None:
    global _ENGINE
    _ENGINE = Engine(soundfonts, shared_data, sample_rate, hold_out=hold_out)


def _render_one(args: tuple[PlannedClip, str]) -> dict[str, str]:
    clip, out_dir = args
    result = _ENGINE.render(clip.spec)
    out = Path(out_dir)
    audio.write(out / clip.file, result.waveform, _ENGINE.sample_rate, subtype="PCM_16")
    if clip.label_file:
        with atomic_path(out / clip.label_file) as tmp:
            tmp.write_text("".join(f"{code}\n" for code in result.labels))
    return {
        "file": clip.file,
        "split": clip.spec.kind,
        "labels": ";".join(result.labels),
        "genre": result.genre,
        "programs": ";".join(result.programs),
        "soundfont": ";".join(result.soundfonts),
        "seed": str(clip.spec.seed),
        "effects": ";".join(result.effects),
        "duration_s": f"{clip.spec.duration_s:g}",
        ENSEMBLE_COLUMN: result.ensemble,
    }


def render_dataset(
    out_dir: str | os.PathLike,
    *,
    train_per_class: int = 100,
    test_excerpts: int = 20,
    negatives: int = 0,
    seed: int = 0,
    jobs: int = 1,
    sample_rate: int = 44100,
    soundfonts: list[str | os.PathLike] | None = None,
    shared_data: str | os.PathLike | bool | None = None,
    classes: list[str] | tuple[str, ...] | None = None,
    progress: bool = True,
    train_seconds: float = 3.0,
    test_seconds: tuple[float, float] = (5.0, 20.0),
    hold_out: tuple[str, ...] | list[str] = (),
    tones: int = 0,
) -> Path:
    """Render (or finish rendering) an IRMAS-format dataset into ``out_dir``; returns ``out_dir``.

    ``soundfonts=None`` searches the usual places; ``shared_data=None`` uses
    ``<repo>/../shared/data`` when present (real notes for the sampler, real negatives),
    ``False`` disables it. ``hold_out`` lists ``real-train/`` path prefixes never used as
    backgrounds or negatives (keep a validation set's sources out of training data). ``tones``
    adds test-signal negatives (sines, sweeps, dial tones, beeps; see :func:`plan_dataset`).
    ``classes``: vocabulary codes (default the 11 IRMAS codes); extended codes get labelled
    drums/basses, ensembles and negatives free of them. Finished clips are skipped, so an
    interrupted run resumes.
    """
    out_dir = Path(out_dir)
    fonts = require_soundfonts(soundfonts)
    shared = _shared_folder(shared_data)
    if shared is not None and not shared.is_dir():
        raise SynthError(f"{shared}: shared-data folder not found", option="shared_data")
    if jobs < 1:
        raise SynthError(f"jobs must be >= 1, got {jobs}")
    plan = plan_dataset(
        train_per_class=train_per_class,
        test_excerpts=test_excerpts,
        negatives=negatives,
        seed=seed,
        classes=tuple(classes or LABELS),
        train_seconds=train_seconds,
        test_seconds=test_seconds,
        tones=tones,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    for sub in {str(Path(c.file).parent) for c in plan}:
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    todo = pending(out_dir, plan)
    manifest = _Manifest(out_dir, plan, todo)
    bar = progress_bar(
        desc="synth",
        unit="clip",
        total=len(plan),
        initial=len(plan) - len(todo),
        quiet=not progress,
        dynamic_ncols=True,
    )
    try:
        with _rendering([(c, str(out_dir)) for c in todo], jobs, (fonts, shared, sample_rate, tuple(hold_out))) as rows:
            for row in rows:
                manifest.add(row)
                bar.update(1)
    finally:
        manifest.write()
        bar.close()
    return out_dir


def _shared_folder(shared_data: str | os.PathLike | bool | None) -> Path | None:
    """The shared-data folder: ``None`` finds :func:`default_shared_data`, ``False`` means none."""
    return None if shared_data is False else (Path(shared_data) if shared_data else default_shared_data())


class _Manifest:
    """Rows of the finished clips, rewritten to ``manifest.csv`` in plan order every 2 s or so."""

    def __init__(self, out_dir: Path, plan: list[PlannedClip], todo: list[PlannedClip]) -> None:
        self.out_dir = out_dir
        self.order = {c.file: i for i, c in enumerate(plan)}
        existing, todo_files = read_manifest(out_dir), {c.file for c in todo}
        self.rows = {c.file: existing[c.file] for c in plan if c.file not in todo_files}
        self.written = time.monotonic()

    def add(self, row: dict[str, str]) -> None:
        self.rows[row["file"]] = row
        if time.monotonic() - self.written > 2.0:
            self.write()

    def write(self) -> None:
        write_manifest(self.out_dir, [self.rows[f] for f in sorted(self.rows, key=self.order.__getitem__)])
        self.written = time.monotonic()


@contextlib.contextmanager
def _rendering(
    work: list[tuple[PlannedClip, str]], jobs: int, engine_args: tuple
) -> Iterator[Iterator[dict[str, str]]]:
    """Manifest rows of ``work`` as its clips finish: rendered in this process for one job (or
    one clip), else by a pool of spawned workers that is terminated if the caller stops early."""
    if jobs == 1 or len(work) <= 1:
        if work:
            _init_worker(*engine_args)
        yield map(_render_one, work)
        return
    pool = multiprocessing.get_context("spawn").Pool(
        min(jobs, len(work)), initializer=_init_worker, initargs=engine_args
    )
    try:
        yield pool.imap_unordered(_render_one, work, chunksize=1)
    except BaseException:
        pool.terminate()
        raise
    pool.close()
    pool.join()


def render_clip(
    instrument: str | None = None,
    *,
    kind: str = "train",
    genre: str | None = None,
    seed: int = 0,
    duration_s: float = 3.0,
    sample_rate: int = 44100,
    soundfonts: list[str | os.PathLike] | None = None,
    shared_data: str | os.PathLike | bool | None = None,
    negative_kind: str | None = None,
    keep_stems: bool = False,
    classes: tuple[str, ...] | list[str] = LABELS,
    ensemble: str | None = None,
):
    """Render one mixture in memory and return a :class:`~instrumentid.synth.mix.Clip`
    (``.waveform`` float32 ``(2, samples)``, ``.labels``, ``.stems`` when ``keep_stems``).

    ``classes`` is the class set (an extended ``instrument`` joins it); a test excerpt with
    ``ensemble`` (a kind of :data:`~instrumentid.synth.ensembles.ENSEMBLES`) is that ensemble.

    The engine (SoundFonts, recorded notes) is built once per process and reused.
    """
    global _ENGINE
    shared = _shared_folder(shared_data)
    fonts = require_soundfonts(soundfonts)
    key = (tuple(fonts), shared, sample_rate)
    if _ENGINE is None or getattr(_ENGINE, "_key", None) != key:
        _ENGINE = Engine(fonts, shared, sample_rate)
        _ENGINE._key = key
    if kind == "train" and instrument not in VOCABULARY:
        raise SynthError(f"instrument must be one of {', '.join(VOCABULARY)}, got {instrument!r}")
    classes = check_classes(tuple(classes) + ((instrument,) if instrument and instrument not in classes else ()))
    if ensemble is not None and ensemble not in ENSEMBLES:
        raise SynthError(f"ensemble must be one of {', '.join(ENSEMBLES)}, got {ensemble!r}")
    genre = genre or (ENSEMBLES[ensemble].genre if ensemble else None)
    genre = genre or (genre_for(instrument, np.random.default_rng(seed)) if instrument else "pop_roc")
    if genre not in GENRES:
        raise SynthError(f"genre must be one of {', '.join(GENRES)}, got {genre!r}")
    spec = ClipSpec(
        kind,
        _seed(seed, 9, 0),
        _seed(seed, 9, 1),
        duration_s,
        genre,
        instrument=instrument,
        negative_kind=negative_kind,
        ensemble=ensemble,
        classes=classes,
    )
    return _ENGINE.render(spec, keep_stems=keep_stems)

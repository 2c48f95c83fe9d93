"""The shipped bundles (default v3, fast, audioset-zeroshot) and the default model's recipe."""

import importlib.util
import json
import socket
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from sklearn.metrics import f1_score

from helpers import REPO, SLIM_PREAMBLE, TRAIN_MODULES, shared_data_or_skip, write_chord, yamnet_wheel_or_skip
from instrumentid import load_model
from instrumentid.evaluation.thresholds import thresholds_by_rule
from instrumentid.inference.bundle import load_bundle
from instrumentid.inference.shipped import BUNDLED, bundled_path, default_bundle_path
from instrumentid.labels import LABELS, VOCABULARY


def _recipe():
    spec = importlib.util.spec_from_file_location("default_model_recipe", REPO / "recipes" / "default_model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import would: its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def test_shipped_default_is_yamnet_complete_and_small():
    path = default_bundle_path()
    bundle = load_bundle(path)
    assert path.stat().st_size <= 20e6
    assert bundle["model"]["name"] == "yamnet" and bundle["window_s"] == 0.975
    assert bundle["labels"] == list(VOCABULARY)  # the 11 IRMAS codes and the extended vocabulary
    assert bundle["features"]["level_dbfs"] == -20.0  # quiet is not silent
    assert all(0 < t < 1 for t in bundle["thresholds"])
    assert bundle["metadata"]["recipe"] == "recipes/default_model.py"
    assert bundle["metadata"]["validation"]["roc_auc_macro"] > 0.5
    assert "Apache-2.0" in bundle["metadata"]["weights"]["licence"]


@pytest.mark.parametrize("name", list(BUNDLED))
def test_every_bundled_name_loads_and_predicts(name):
    assert bundled_path(name).is_file()
    model = load_model(name)
    record = model.predict(REPO / "src" / "instrumentid" / "assets" / "example.ogg")
    assert list(record["scores"]) == list(load_bundle(name)["labels"])
    assert set(LABELS) <= set(record["scores"]) <= set(VOCABULARY)


def test_default_predicts_with_networking_disabled(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    record = load_model().predict(REPO / "src" / "instrumentid" / "assets" / "example.ogg")
    assert record["duration_s"] > 0


def test_bundled_example_is_recognised():
    """The demo file (rendered, labels beside it): the model finds its instruments on top."""
    example = REPO / "src" / "instrumentid" / "assets" / "example.ogg"
    expected = (example.with_suffix(".txt")).read_text().split()
    record = load_model().predict(example)
    ranked = sorted(record["scores"], key=record["scores"].get, reverse=True)
    assert set(ranked[: len(expected)]) & set(expected), (expected, record["scores"])


#: Real recordings whose sources the recipe holds out of the final training (REAL_VALIDATION),
#: with the labels of which the model must rank one first (the backing holds piano and drums).
SINGING_LIMIT = pytest.mark.xfail(
    strict=True,
    reason="known limit (docs/model-card.md): a 2-s close-miked sung "
    "phrase is ranked below piano; short real singing is the weak spot",
)
HELD_OUT_POSITIVES = [
    ("mirdata_fixtures/filosax/Participant 2/01/Sax.flac", {"sax"}),
    ("mirdata_fixtures/filosax/Participant 2/02/Sax.flac", {"sax"}),
    ("mirdata_fixtures/filosax/Backing/02/Piano_Drums.flac", {"pia", "dru"}),
    ("essentia_audio/recorded/Guitar-A4-432-1.flac", {"gac"}),
    pytest.param(
        "mirdata_fixtures/multivox/C1/C1_01042025_S1_VAMOSAREMAR_P17_S16/S1_Song1_VAMOSAREMAR.flac",
        {"voi"},
        marks=SINGING_LIMIT,
    ),
]
HELD_OUT_NEGATIVES = ("librosa_data/audio/198-209-0000.hq.flac", "librosa_data/audio/pibble.hq.flac")


def test_nested_thresholds_never_see_the_sources_they_score():
    """One source's positives score 0.35, below other sources' negatives (up to 0.5). Tuned
    without that source, as the recipe's choice is judged, every rule puts the threshold above
    0.35 and misses them; tuned on all scores, the same rule scores better than it does nested."""
    recipe = _recipe()
    rng = np.random.default_rng(0)
    folds = np.repeat(np.arange(4), 50)
    y_true = np.zeros((200, len(LABELS)))
    y_true[::2, 0] = 1  # every fold: 25 cello positives, 25 negatives
    y_score = np.where(y_true > 0, 0.9, rng.uniform(0.05, 0.5, y_true.shape))
    y_score[folds == 0] = np.where(y_true[folds == 0] > 0, 0.35, 0.05)
    nonmusic = np.zeros(200, dtype=bool)
    best_if_fold_0_missed = 2 * 75 / (2 * 75 + 25)  # 75 found, none falsely, fold 0's 25 missed
    for rule in recipe.THRESHOLD_RULES:
        without_fold_0 = thresholds_by_rule(rule, y_true[folds > 0], y_score[folds > 0], non_music=nonmusic[folds > 0])
        assert without_fold_0[0] > 0.35
        nested = recipe.nested(y_true, y_score, nonmusic, folds, rule)["f1_macro"]
        in_sample = thresholds_by_rule(rule, y_true, y_score, non_music=nonmusic)
        f1_in_sample = f1_score(y_true[:, 0], y_score[:, 0] >= in_sample[0])
        assert nested <= best_if_fold_0_missed + 1e-9 < f1_in_sample, rule


def test_test_files_are_held_out_by_the_recipe():
    held = _recipe().REAL_VALIDATION
    positives = [p.values[0] if hasattr(p, "values") else p[0] for p in HELD_OUT_POSITIVES]
    for relative in (*positives, *HELD_OUT_NEGATIVES):
        assert any(relative.startswith(prefix) for prefix in held), relative


@pytest.mark.shared
@pytest.mark.parametrize("relative,codes", HELD_OUT_POSITIVES)
def test_top_label_on_held_out_real_recordings(relative, codes):
    root = shared_data_or_skip() / "real-train"
    record = load_model().predict(root / relative)
    top = max(record["scores"], key=record["scores"].get)
    assert top in codes, record["scores"]


@pytest.mark.shared
@pytest.mark.parametrize("relative", HELD_OUT_NEGATIVES)
def test_no_instrument_on_held_out_real_negatives(relative):
    root = shared_data_or_skip() / "real-train"
    record = load_model().predict(root / relative)
    assert record["present"] == [], record["scores"]


#: real-extended files of the sources the recipe holds out (EXTENDED_VALIDATION), with labels the
#: default must name: a rock mix and its bass and drum stems, a jazz mix's horns, harmonica, vibraphone.
HELD_OUT_EXTENDED = [
    ("cambridge_mt_patchwerk/graham_MIX_0-20s.mp3", {"voi"}),
    pytest.param(
        "cambridge_mt_patchwerk/graham_MIX_0-20s.mp3",
        {"dru", "gel"},
        marks=pytest.mark.xfail(
            strict=True,
            reason="known limit (docs/model-card.md): inside a dense rock mix, drums and electric guitar "
            "score below the one threshold (0.29 and 0.10 against 0.41) though they rank high",
        ),
    ),
    ("cambridge_mt_patchwerk/graham_E-Bass_0-20s.mp3", {"bas"}),
    ("cambridge_mt_patchwerk/graham_Drums_0-20s.mp3", {"dru"}),
    ("harmonica_amt/G_actingcrazyfinal.flac", {"hmc"}),
    ("forbidden_music_freesound/vibraphone_354.225.flac", {"mal"}),
]


def test_extended_test_files_are_held_out_by_the_recipe():
    held = _recipe().EXTENDED_VALIDATION
    for case in HELD_OUT_EXTENDED:
        relative = case.values[0] if hasattr(case, "values") else case[0]
        assert any(relative.startswith(prefix) for prefix in held), relative


@pytest.mark.shared
@pytest.mark.parametrize("relative,codes", HELD_OUT_EXTENDED)
def test_held_out_extended_recordings_get_their_labels(relative, codes):
    path = shared_data_or_skip() / "real-extended" / relative
    if not path.is_file():
        pytest.skip(f"{path} is not in this copy of ../shared/data")
    record = load_model().predict(path)
    assert codes <= set(record["present"]), record["scores"]
    if codes.isdisjoint(LABELS):  # an outside instrument is its own class, not the nearest IRMAS name
        assert set(record["present"]).isdisjoint(LABELS), record["present"]


def _sax_and_piano(root):
    """Held-out real saxophone and piano (filosax player 2; the piano + drums backing), 16 kHz mono."""
    from instrumentid.audio import load

    sax, _ = load(root / "mirdata_fixtures/filosax/Participant 2/01/Sax.flac", sample_rate=16_000)
    piano, _ = load(root / "mirdata_fixtures/filosax/Backing/02/Piano_Drums.flac", sample_rate=16_000)
    return sax, piano


@pytest.mark.shared
def test_an_instrument_that_plays_in_part_of_a_file_is_present(tmp_path):
    """5 s of saxophone, 30 s of digital silence, 5 s of the piano + drums backing: the silence
    dilutes neither part, so the file names the instrument each part is best known by on its own."""
    import soundfile as sf

    sax, piano = _sax_and_piano(shared_data_or_skip() / "real-train")
    model = load_model()
    alone = set()
    for name, part in (("sax", sax[:80_000]), ("backing", piano[:80_000])):
        sf.write(tmp_path / f"{name}.wav", part, 16_000)
        scores = model.predict(tmp_path / f"{name}.wav")["scores"]
        alone.add(max(scores, key=scores.get))
    sf.write(
        tmp_path / "parts.wav", np.concatenate([sax[:80_000], np.zeros(480_000, np.float32), piano[:80_000]]), 16_000
    )
    record = model.predict(tmp_path / "parts.wav")
    assert "sax" in alone and alone <= set(record["present"]), (alone, record["scores"])
    assert record["activity"]["sax"][0][0] < 5.0 and max(end for _, end in record["activity"]["sax"]) <= 5.0


@pytest.mark.shared
def test_a_quiet_take_scores_like_a_loud_one():
    sax, _ = _sax_and_piano(shared_data_or_skip() / "real-train")
    sax = sax / np.abs(sax).max()
    model = load_model()
    loud, quiet = (model.predict_waveform(sax * 10 ** (db / 20), 16_000) for db in (-1, -50))
    assert "sax" in quiet["present"] and "warnings" not in quiet
    assert max(abs(loud["scores"][c] - quiet["scores"][c]) for c in loud["scores"]) < 0.02


def test_labels_irmas_gives_the_11_label_record(tmp_path):
    example = REPO / "src" / "instrumentid" / "assets" / "example.ogg"
    model = load_model()
    whole, irmas = model.predict(example), model.predict(example, labels=LABELS)
    assert list(irmas["scores"]) == list(LABELS)
    assert irmas["scores"] == {c: whole["scores"][c] for c in LABELS}
    assert irmas["present"] == [c for c in whole["present"] if c in LABELS]
    assert set(irmas["activity"]) <= set(LABELS)


@pytest.mark.slow
@pytest.mark.shared
def test_recipe_quick_runs_end_to_end(tmp_path):
    shared_data_or_skip()
    yamnet_wheel_or_skip()
    out = tmp_path / "bundles"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "recipes" / "default_model.py"),
            "--quick",
            "--jobs",
            "1",
            "--work",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("default.iid", "audioset-zeroshot.iid"):
        bundle = load_bundle(out / name)
        assert bundle["metadata"]["recipe"] == "recipes/default_model.py --quick"
        assert bundle["model"]["name"] == "yamnet"
    rows = json.loads((tmp_path / "work" / "comparison.json").read_text())
    assert {row["variant"] for row in rows} == {"zeroshot", "audioset-anchored"}
    assert (tmp_path / "work" / "oof_scores.csv").is_file()
    assert all(row["roc_auc_macro"] is not None for row in rows)


@pytest.mark.parametrize("name", list(BUNDLED))
def test_every_bundled_name_is_one_graph_that_gives_the_same_records_in_both_runtimes(name, tmp_path):
    """A bundled name is one file: onnxruntime runs the graph, PyTorch the bundle rebuilt from its
    weights (checked against the bundle's checksum), and the records agree: scores within 1e-4 on
    the example, a quiet copy of it (where `level_dbfs` scales most), a short chord and noise."""
    from instrumentid.inference.runtimes import OnnxRuntime

    bundle = load_bundle(name)
    graph = OnnxRuntime(bundled_path(name))
    assert graph.bundle["exported_from"]["checksum"] == bundle["checksum"]
    assert {k: v for k, v in graph.bundle.items() if k not in ("variable_length", "exported_from")} == {
        k: v for k, v in bundle.items() if k not in ("state_dict", "checksum")
    }
    example = REPO / "src" / "instrumentid" / "assets" / "example.ogg"
    audio, rate = sf.read(example, dtype="float32")
    sf.write(tmp_path / "quiet.wav", audio[: 20 * rate] * 0.01, rate)
    sf.write(tmp_path / "noise.wav", 0.05 * np.random.default_rng(0).standard_normal((3 * 44_100, 2)), 44_100)
    files = [
        example,
        tmp_path / "quiet.wav",
        write_chord(tmp_path / "chord.wav", (262, 330, 392), seconds=2.5),
        tmp_path / "noise.wav",
    ]
    via_onnx, via_torch = load_model(name), load_model(name, runtime="torch")
    assert via_onnx.runtime.name == "onnxruntime" and via_torch.runtime.name == "torch"
    for path in files:
        a, b = via_onnx.predict(path, segments=True), via_torch.predict(path, segments=True)
        assert a["present"] == b["present"], path
        assert max(abs(a["scores"][k] - b["scores"][k]) for k in a["scores"]) <= 1e-4, path
        assert len(a["segments"]) == len(b["segments"])


def test_predicting_with_the_default_model_never_imports_torch(tmp_path):
    """A fresh interpreter that cannot import torch, Lightning or scikit-learn (as in the slim
    install) predicts with the bundled default through the CLI and the Python API."""
    code = SLIM_PREAMBLE + (
        "from instrumentid import load_model\nfrom instrumentid.cli import main\n"
        "rc = main(['predict', sys.argv[1], '-f', 'json'])\n"
        "record = load_model().predict(sys.argv[1])\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {TRAIN_MODULES!r})\n"
        "assert not heavy, heavy\nsys.exit(rc)\n"
    )
    song = write_chord(tmp_path / "song.wav", (262, 330, 392), seconds=1.0)
    done = subprocess.run([sys.executable, "-c", code, str(song)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["file"] == str(song)

"""Tiny training runs end to end on generated tones: train → bundle → predict."""

import json
import subprocess
import time

import numpy as np
import pytest
import yaml

from helpers import CLI, REPO, run_cli, write_tone
from instrumentid.errors import ConfigError
from instrumentid.inference.bundle import load_bundle
from instrumentid.labels import LABELS
from instrumentid.training.config import TrainConfig
from instrumentid.training.resume import checkpoint_dir, prepare_checkpoints

#: Each class gets its own pitch, so a tiny model can learn the task in a few epochs.
PITCH = {code: 110.0 * 2 ** (i / 2) for i, code in enumerate(LABELS)}


@pytest.fixture(scope="module")
def tone_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("irmas") / "IRMAS-TrainingData"
    for code, freq in PITCH.items():
        for k in range(6):
            write_tone(
                root / code / f"[{code}][pop_roc]{k:04d}__1.wav",
                freq * (1 + 0.01 * k),
                1.5,
                22_050,
                channels=2,
                amplitude=0.3 + 0.05 * k,
            )
    return root


TINY = [
    "--model-params",
    "{widths: [8, 16, 16, 16], dropout: 0.0}",
    "--window-s",
    "1.0",
    "--hop-s",
    "1.0",
    "--n-mels",
    "32",
    "--batch-size",
    "16",
    "--progress",
    "false",
    "--mix-p",
    "0",
    "--noise-p",
    "0",
    "--eq-p",
    "0",
    "--lr",
    "0.01",
]


@pytest.mark.slow
def test_train_bundle_predict_end_to_end(tone_dataset, tmp_path):
    out = tmp_path / "tones.iid"
    result = run_cli(
        "train",
        "--data",
        tone_dataset,
        "--epochs",
        "12",
        "--epoch-size",
        "256",
        "--out",
        out,
        "--run-dir",
        tmp_path / "run",
        "--val-fraction",
        "0.34",
        *TINY,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    bundle = load_bundle(out)
    assert bundle["labels"] == list(LABELS) and bundle["model"]["name"] == "cnn"
    assert all(0 < t < 1 for t in bundle["thresholds"])
    assert bundle["metadata"]["validation"]["files"] > 0 and bundle["metadata"]["train_files"] > 0
    assert bundle["metadata"]["warnings"] == []  # a model that learned is not called untrained
    assert (tmp_path / "run" / "config.yaml").is_file() and list((tmp_path / "run" / "logs").rglob("metrics.csv"))
    # the trained model tells the tones apart: top label is right for most classes on new clips
    probe = tmp_path / "probe"
    for code, freq in PITCH.items():
        write_tone(probe / f"{code}.wav", freq * 1.005, 2.0, 44_100)
    records = json.loads(run_cli("predict", probe, "--model", out, "--format", "json").stdout)
    correct = sum(max(r["scores"], key=r["scores"].get) == r["file"].rsplit("/", 1)[-1][:3] for r in records)
    assert correct >= 8, [(r["file"], max(r["scores"], key=r["scores"].get)) for r in records]


def test_fast_dev_run_with_yaml_config(tone_dataset, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"data": [str(tone_dataset)], "epochs": 5, "seed": 3}))
    out = tmp_path / "dev.iid"
    result = run_cli(
        "train",
        "--config",
        config,
        "--fast-dev-run",
        "--out",
        out,
        "--run-dir",
        tmp_path / "run",
        "--tune-thresholds",
        "false",
        *TINY,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["epochs"] == 5 and saved["seed"] == 3 and saved["fast_dev_run"] is True
    assert load_bundle(out)["thresholds"] == [0.5] * len(LABELS)


def test_same_seed_same_weights(tone_dataset, tmp_path):
    from instrumentid.training import train

    def once(name):
        config = TrainConfig(
            data=[str(tone_dataset)],
            epochs=1,
            epoch_size=32,
            batch_size=16,
            window_s=1.0,
            hop_s=1.0,
            n_mels=32,
            model_params={"widths": [4, 8, 8, 8]},
            progress=False,
            out=str(tmp_path / f"{name}.iid"),
            run_dir=str(tmp_path / name),
            seed=7,
        )
        return load_bundle(train(config))["state_dict"]

    a, b = once("a"), once("b")
    for key in a:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown config field"):
        TrainConfig.from_dict({"epochz": 3})
    (tmp_path / "bad.yaml").write_text("[1, 2")
    with pytest.raises(ConfigError, match="not valid YAML"):
        TrainConfig.from_yaml(tmp_path / "bad.yaml")
    result = run_cli("train", "--epochs", "1")
    assert result.returncode == 2 and "no training data" in result.stderr


def test_label_overrides_replace_labels(tone_dataset, tmp_path):
    from instrumentid.data.datasets import Example, read_dataset, write_csv
    from instrumentid.errors import DataError
    from instrumentid.training.run import apply_overrides

    examples = read_dataset(tone_dataset)
    target = examples[0]
    overrides = write_csv([Example(target.path, ("pia", "voi"), target.group)], tmp_path / "over.csv")
    fixed = apply_overrides(examples, str(overrides))
    assert fixed[0].labels == ("pia", "voi") and fixed[1:] == examples[1:]
    stranger = write_csv([Example(tmp_path / "x.wav", ("pia",), "x")], tmp_path / "none.csv")
    with pytest.raises(DataError, match="none of its 1 files"):
        apply_overrides(examples, str(stranger))


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tone_dataset, tmp_path):
    """Lightning DDP (two CPU processes, gloo): one bundle, written once, by rank 0."""
    out = tmp_path / "ddp.iid"
    result = run_cli(
        "train",
        "--data",
        tone_dataset,
        "--epochs",
        "1",
        "--epoch-size",
        "32",
        "--out",
        out,
        "--run-dir",
        tmp_path / "run",
        "--devices",
        "2",
        "--accelerator",
        "cpu",
        *TINY,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count(f"wrote {out}") == 1
    assert load_bundle(out)["metadata"]["train_files"] > 0


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_builds_its_model_and_module(path):
    """A typo in a shipped YAML, a model that stopped accepting its parameters, or module wiring
    that drifted from the config fails here, fast and without data."""
    import torch

    from instrumentid.training.run import build_module

    config = TrainConfig.from_yaml(path)
    features = config.feature_config()
    module = build_module(config, features, normalization={"mean": 0.0, "std": 1.0})
    assert sum(p.numel() for p in module.model.parameters()) > 0
    assert [t.p for t in module.augment] == [
        config.augment.gain_p,
        config.augment.eq_p,
        config.augment.mix_p,
        config.augment.lowpass_p,
        config.augment.noise_p,
    ]
    torch.manual_seed(0)
    waveform = torch.randn(2, round(config.window_s * config.sample_rate)) * 0.1
    augmented, targets = module.train().augment(waveform, torch.eye(2, len(LABELS)))
    assert augmented.shape == waveform.shape and targets.shape == (2, len(LABELS))
    assert module.eval()(waveform).shape == (2, len(LABELS))


def test_augmentation_settings_are_one_group_with_top_level_keys_and_flags():
    """Configs and checkpoints written before the grouping name ``mix_p`` etc. at the top level."""
    import argparse

    from instrumentid.training.config import AugmentConfig, add_config_arguments, config_from_args

    config = TrainConfig.from_dict({"mix_p": 0.1, "specaugment": False, "lr": 0.01})
    assert config.augment == AugmentConfig(mix_p=0.1, specaugment=False) and config.lr == 0.01
    flat = config.to_dict()
    assert flat["mix_p"] == 0.1 and "augment" not in flat and TrainConfig.from_dict(flat) == config
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    from_flags = config_from_args(parser.parse_args(["--noise-p", "0", "--specaugment", "false"]))
    assert from_flags.augment == AugmentConfig(noise_p=0.0, specaugment=False)
    with pytest.raises(ConfigError, match="eq_p is a probability"):
        TrainConfig.from_dict({"eq_p": 1.5})
    with pytest.raises(ConfigError, match="unknown config field"):
        TrainConfig.from_dict({"augment": {"mix_p": 0.1}})


def test_yamnet_fine_tunes_only_its_top_blocks_through_train(tone_dataset, tmp_path):
    """`train --model yamnet` keeps YAMNet's own front-end scale (no normalisation) and its frozen blocks."""
    import torch

    from instrumentid.models import build

    torch.manual_seed(0)
    start = build("yamnet", head="audioset", fine_tune_blocks=1)
    weights = tmp_path / "start.pt"
    torch.save({"format": "instrumentid-yamnet-weights", "version": 1, "state_dict": start.state_dict()}, weights)
    out = tmp_path / "y.iid"
    result = run_cli(
        "train",
        "--data",
        tone_dataset,
        "--model",
        "yamnet",
        "--model-params",
        f"{{pretrained: {weights}, head: audioset, fine_tune_blocks: 1}}",
        "--window-s",
        "0.96",
        "--hop-s",
        "0.96",
        "--epochs",
        "1",
        "--epoch-size",
        "32",
        "--batch-size",
        "16",
        "--lr",
        "0.01",
        "--out",
        out,
        "--run-dir",
        tmp_path / "run",
        "--progress",
        "false",
        "--val-fraction",
        "0.34",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    bundle = load_bundle(out)
    assert bundle["features"]["name"] == "yamnet" and bundle["normalization"] == {"mean": 0.0, "std": 1.0}
    assert "pretrained" not in bundle["model"]["params"]
    trained = bundle["state_dict"]
    before = start.state_dict()
    frozen = [k for k in before if k.startswith("backbone.blocks.") and int(k.split(".")[2]) < 13]
    assert frozen and all(torch.equal(trained[k], before[k]) for k in frozen)
    assert not torch.equal(trained["backbone.blocks.13.convs.1.weight"], before["backbone.blocks.13.convs.1.weight"])


#: TINY with augmentation and dropout on: a resumed run must redraw the same random values.
TINY_RANDOM = [
    "--model-params",
    "{widths: [4, 8, 8, 8], dropout: 0.2}",
    "--window-s",
    "1.0",
    "--hop-s",
    "1.0",
    "--n-mels",
    "32",
    "--batch-size",
    "8",
    "--epoch-size",
    "32",
    "--epochs",
    "4",
    "--progress",
    "false",
    "--lowpass-p",
    "0.5",
    "--val-fraction",
    "0.34",
    "--seed",
    "5",
    "--num-workers",
    "0",
]


def _state_dicts(out):
    import torch

    last = torch.load(checkpoint_dir(out) / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    return last, load_bundle(out)["state_dict"]


@pytest.mark.slow
def test_resume_after_kill_ends_with_the_uninterrupted_weights(tone_dataset, tmp_path):
    import torch

    whole = tmp_path / "whole.iid"
    result = run_cli("train", "--data", tone_dataset, *TINY_RANDOM, "--out", whole, "--run-dir", tmp_path / "whole")
    assert result.returncode == 0, result.stderr[-3000:]

    out = tmp_path / "cut.iid"
    args = ["train", "--data", tone_dataset, *TINY_RANDOM, "--out", out, "--run-dir", tmp_path / "cut"]
    last = checkpoint_dir(out) / "last.ckpt"
    process = subprocess.Popen(
        [*CLI, *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not last.exists() and process.poll() is None:
            time.sleep(0.01)
        assert process.poll() is None, "the run ended before its first checkpoint could be interrupted"
        process.kill()  # SIGKILL: no clean-up of any kind
    finally:
        process.kill()
        process.wait()
    assert not out.exists()

    resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {last}" in resumed.stderr
    logs = sorted((tmp_path / "cut" / "logs").glob("version_*/metrics.csv"))
    epochs = {int(line.split(",")[0]) for line in logs[-1].read_text().splitlines()[1:]}
    assert 0 not in epochs and max(epochs) == 3  # it continued; it did not start over
    for expected, actual in zip(_state_dicts(whole), _state_dicts(out), strict=True):  # last checkpoint, then bundle
        assert expected.keys() == actual.keys()
        for key in expected:
            assert torch.equal(expected[key], actual[key]), key


def test_resume_refuses_a_changed_config_and_starts_over_without_a_checkpoint(tmp_path, capsys):
    """Resuming under another config would mix two runs; a missing checkpoint just means a fresh start."""
    config = TrainConfig(data=["d"], out=str(tmp_path / "m.iid"), seed=1)
    folder = checkpoint_dir(config.out)
    assert folder == tmp_path / "m.iid.ckpt"
    folder.mkdir()
    (folder / "best-epoch=3.ckpt").write_bytes(b"old")
    assert prepare_checkpoints(config) is None  # a fresh run clears earlier checkpoints, keeps its config
    assert [p.name for p in folder.iterdir()] == ["config.yaml"]
    config.resume = True
    assert prepare_checkpoints(config) is None and "starting from scratch" in capsys.readouterr().err
    (folder / "last.ckpt").write_bytes(b"checkpoint")
    config.progress, config.num_workers = False, 2  # changes nothing in the result
    assert prepare_checkpoints(config) == folder / "last.ckpt"
    config.lr, config.seed = 0.1, 2
    with pytest.raises(ConfigError, match=r"cannot resume with a different config \(lr, seed differ"):
        prepare_checkpoints(config)


def test_one_step_train_warns_that_the_model_is_untrained(tone_dataset, tmp_path):
    out = tmp_path / "one.iid"
    result = run_cli(
        "train",
        "--data",
        tone_dataset,
        "--epochs",
        "1",
        "--epoch-size",
        "16",
        "--batch-size",
        "16",
        "--window-s",
        "1.0",
        "--hop-s",
        "1.0",
        "--n-mels",
        "32",
        "--model-params",
        "{widths: [4, 8, 8, 8]}",
        "--progress",
        "false",
        "--out",
        out,
        "--run-dir",
        tmp_path / "run",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = load_bundle(out)["metadata"]["warnings"]
    assert warnings and all(w.startswith("untrained: ") for w in warnings)
    said = result.stderr.index(f"warning: {out}: untrained: ")
    assert said < result.stderr.index(f"wrote {out}")  # before the bundle exists


def test_untrained_rule():
    from instrumentid.evaluation.metrics import compute_metrics
    from instrumentid.training.run import untrained_warnings

    y_true = np.eye(len(LABELS), dtype=int)
    learned = np.clip(y_true * 0.8 + 0.1, 0, 1)
    assert untrained_warnings(learned, compute_metrics(y_true, learned)) == []
    flat = np.full(y_true.shape, 0.47) + np.arange(len(LABELS))[:, None] * 1e-4  # tiny, useless variation
    [chance, equal] = untrained_warnings(flat, compute_metrics(y_true, flat))
    assert "macro ROC-AUC 0.500 is no better than chance" in chance and "all but equal" in equal
    reversed_ = 1 - learned  # varied scores, ranked the wrong way round
    [warning] = untrained_warnings(reversed_, compute_metrics(y_true, reversed_))
    assert "macro ROC-AUC 0.000" in warning


def _tiny_set(root, groups: int, clips: int):
    """An IRMAS training folder of ``clips`` short clips in ``groups`` recordings (excerpts __1, __2…)."""
    codes = list(PITCH)
    for k in range(clips):
        g = k % groups
        code = codes[g % len(codes)]
        write_tone(root / code / f"[{code}][pop_roc]{g:04d}__{k // groups + 1}.wav", PITCH[code], 1.0, 16_000)
    return root


def test_tiny_dataset_trains_and_a_failed_run_leaves_nothing(tmp_path):
    """22 clips in 13 recordings: the default 0.15 split keeps a group on each side (the small-data
    rule); a single recording cannot be split, says what to do and leaves no <out>.ckpt/ behind."""
    tiny = _tiny_set(tmp_path / "tiny", groups=13, clips=22)
    out = tmp_path / "model.iid"
    result = run_cli("train", "--data", tiny, "--fast-dev-run", "--out", out, "--run-dir", tmp_path / "run", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.is_file() and not checkpoint_dir(out).exists()  # a fast dev run keeps no checkpoints
    for noise in ("GPU available", "Tip:", "litlogger", "deprecated"):  # Lightning's, off unless --verbose
        assert noise not in result.stderr
    verbose = run_cli(
        "train", "--data", tiny, "--fast-dev-run", "--out", out, "--run-dir", tmp_path / "run", "--verbose", *TINY
    )
    assert verbose.returncode == 0 and "GPU available" in verbose.stderr
    one = _tiny_set(tmp_path / "one", groups=1, clips=3)
    failed = run_cli("train", "--data", one, "--out", tmp_path / "one.iid", "--run-dir", tmp_path / "run1", *TINY)
    assert failed.returncode != 0 and "--val-data" in failed.stderr and "Traceback" not in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.iid", "one", "run", "tiny"]

import dataclasses

import pytest
import torch

from helpers import tiny_bundle_dict
from instrumentid.errors import BundleError, ConfigError
from instrumentid.inference.bundle import FORMAT_VERSION, build_model, header, load_bundle, save_bundle
from instrumentid.inference.contract import BundleInfo
from instrumentid.models import available, build


def test_round_trip_is_weights_only_and_exact(tmp_path):
    bundle = tiny_bundle_dict()
    path = save_bundle(bundle, tmp_path / "m.iid")
    raw = torch.load(path, weights_only=True)  # the contract: no pickled code
    assert raw["format_version"] == FORMAT_VERSION and len(raw["checksum"]) == 64
    loaded = load_bundle(path)
    model_a, model_b = build_model(bundle), build_model(loaded)
    x = torch.randn(2, 1, 32, 63)
    torch.testing.assert_close(model_a(x), model_b(x))
    assert loaded["labels"] == bundle["labels"] and loaded["metadata"]["recipe"]


def test_info_is_a_typed_view_of_a_bundle_and_of_its_header():
    bundle = tiny_bundle_dict(thresholds=[0.25] * 11, aggregation="max")
    about = BundleInfo.of(bundle)
    assert about == BundleInfo.of(header(bundle))  # what an ONNX graph carries reads the same
    assert (about.model_name, about.sample_rate, about.window_s, about.hop_s, about.aggregation) == (
        "cnn",
        16_000,
        1.0,
        1.0,
        "max",
    )
    assert about.labels == tuple(bundle["labels"]) and about.thresholds == (0.25,) * 11
    assert about.metadata == {"recipe": "tests/conftest.py tiny_bundle"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        about.model_name = "other"


def test_newer_format_version_is_refused(tmp_path):
    bundle = tiny_bundle_dict()
    bundle["format_version"] = FORMAT_VERSION + 1
    torch.save(bundle, tmp_path / "new.iid")
    with pytest.raises(BundleError, match="newer than this instrumentid reads"):
        load_bundle(tmp_path / "new.iid")


def test_missing_key_is_named(tmp_path):
    bundle = tiny_bundle_dict()
    del bundle["normalization"]
    torch.save(bundle, tmp_path / "m.iid")
    with pytest.raises(BundleError, match="missing key.*normalization"):
        load_bundle(tmp_path / "m.iid")


def test_tampered_weights_fail_the_checksum(tmp_path):
    path = save_bundle(tiny_bundle_dict(), tmp_path / "m.iid")
    raw = torch.load(path, weights_only=True)
    name = next(iter(raw["state_dict"]))
    raw["state_dict"][name] = raw["state_dict"][name] + 1
    torch.save(raw, path)
    with pytest.raises(BundleError, match="checksum"):
        load_bundle(path)


def test_truncated_or_foreign_file(tmp_path):
    path = save_bundle(tiny_bundle_dict(), tmp_path / "m.iid")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(path)
    (tmp_path / "x.iid").write_text("hello")
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path / "x.iid")
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "absent.iid")


def test_pickled_code_is_refused(tmp_path):
    bundle = tiny_bundle_dict()
    bundle["metadata"] = {"evil": torch.nn.ReLU()}  # an object, not data
    torch.save(bundle, tmp_path / "m.iid")
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path / "m.iid")


@pytest.mark.parametrize("thresholds", [[0.0] * 11, [1.0] * 11, [0.5] * 10])
def test_bad_thresholds(thresholds):
    with pytest.raises(BundleError, match="threshold"):
        tiny_bundle_dict(thresholds=thresholds)


@pytest.mark.parametrize("name", sorted(available()))
def test_every_registered_model_builds_and_runs(name):
    entry = available()[name]
    if not entry.trainable:
        pytest.skip(f"{name} is assembled from trained bundles (tests/test_ensemble.py builds it)")
    if entry.requires:
        pytest.importorskip(entry.requires.split(":")[0], reason=f"{name} needs the zoo extra")
    model = build(name, n_labels=11).eval()
    x = torch.randn(2, 1, 16_000) if entry.frontend == "waveform" else torch.randn(2, 1, 64, 151)
    assert model(x).shape == (2, 11)
    assert model.embed(x).shape[0] == 2
    assert model.gradcam_layer is None or isinstance(model.gradcam_layer, torch.nn.Module)


def test_unknown_model():
    with pytest.raises(ConfigError, match="unknown model 'resnet9000'"):
        build("resnet9000")

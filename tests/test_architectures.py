"""The LSTM (with and without attention) and the parallel MobileNets: shapes, pooling, label routing."""

import pytest
import torch

from instrumentid.errors import ConfigError
from instrumentid.labels import LABELS
from instrumentid.models import build


def test_lstm_attention_pools_with_weights_that_sum_to_one():
    torch.manual_seed(0)
    model = build("lstm", in_channels=3, n_bins=20, hidden_size=16, attention=True).eval()
    x = torch.randn(2, 3, 20, 40)
    assert model(x).shape == (2, 11) and model.embed(x).shape == (2, 32)
    weights = model.last_attention
    assert weights.shape == (2, 40) and torch.allclose(weights.sum(dim=1), torch.ones(2))
    plain = build("lstm", hidden_size=16).eval()
    assert plain.embed(torch.randn(2, 1, 64, 10)).shape == (2, 64) and plain.last_attention is None


def test_lstm_attention_follows_the_frames_that_matter():
    """Attention focuses where the evidence is: trained to detect a burst placed at a random
    frame, it puts most weight on the burst's frames."""
    torch.manual_seed(0)
    model = build("lstm", n_labels=1, n_bins=8, hidden_size=16, num_layers=1, attention=True, dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(200):
        x = torch.randn(32, 1, 8, 30) * 0.1
        y = (torch.rand(32) < 0.5).float()
        where = torch.randint(0, 28, (32,))
        for i in torch.nonzero(y).flatten():
            x[i, 0, :, where[i] : where[i] + 2] += 2.0
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x)[:, 0], y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x = torch.randn(1, 1, 8, 30) * 0.1
    x[0, 0, :, 12:14] += 2.0
    model.eval()(x)
    assert float(model.last_attention[0, 12:14].sum()) > 0.5


def test_parallel_mobilenet_routes_each_group_to_its_labels():
    torch.manual_seed(0)
    groups = [["voi", "cel"], ["pia", "flu", "cla"], ["gac", "gel", "org", "sax", "tru", "vio"]]
    model = build("parallel-mobilenet", groups=groups, widths=[4, 8]).eval()
    x = torch.randn(2, 1, 32, 40)
    logits = model(x)
    for branch, group in zip(model.branches, groups, strict=True):
        own = branch.head(branch.embed(x))
        for j, code in enumerate(group):
            torch.testing.assert_close(logits[:, LABELS.index(code)], own[:, j])
    assert model.embed(x).shape == (2, 3 * 2 * 8)


def test_parallel_mobilenet_default_is_four_branches_over_every_label():
    model = build("parallel-mobilenet")
    assert len(model.branches) == 4 and sorted(c for g in model.groups for c in g) == sorted(LABELS)


def test_parallel_mobilenet_group_errors():
    with pytest.raises(ConfigError, match="every label exactly once"):
        build("parallel-mobilenet", groups=[["cel", "vio"]])
    with pytest.raises(ConfigError, match="every label exactly once"):
        build("parallel-mobilenet", groups=[list(LABELS), ["cel"]])


def test_lstm_refuses_input_of_another_geometry():
    with pytest.raises(ConfigError, match="built for 64 values per frame, got 3 x 20"):
        build("lstm")(torch.randn(1, 3, 20, 10))


def test_every_registry_entry_declares_the_geometry_its_builder_takes():
    """``train`` trusts the declared geometry instead of reading signatures; this keeps the two in step."""
    import inspect

    from instrumentid.models import available
    from instrumentid.models.registry import GEOMETRY

    for name, entry in available().items():
        taken = GEOMETRY & set(inspect.signature(entry.builder).parameters)
        assert entry.geometry == taken, name


def test_stored_params_drop_training_only_weights_and_add_what_the_model_reports():
    from instrumentid.models import stored_params

    class Reporting(torch.nn.Module):
        architecture = {"backbone_config": {"hidden_size": 8}}

    params = {"n_labels": 11, "pretrained": "weights/start.pt", "dropout": 0.1}
    assert stored_params(torch.nn.Linear(1, 1), params) == {"n_labels": 11, "dropout": 0.1}
    assert stored_params(Reporting(), params) == {"n_labels": 11, "dropout": 0.1, "backbone_config": {"hidden_size": 8}}

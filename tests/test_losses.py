import pytest
import torch
import torch.nn.functional as F

from instrumentid.errors import ConfigError
from instrumentid.losses import LOSSES, build_loss


def test_bce_equals_torch():
    logits, targets = torch.randn(5, 11), (torch.rand(5, 11) > 0.7).float()
    assert torch.isclose(build_loss("bce")(logits, targets), F.binary_cross_entropy_with_logits(logits, targets))


def test_focal_down_weights_easy_examples():
    targets = torch.ones(1, 11)
    easy, hard = torch.full((1, 11), 5.0), torch.full((1, 11), -1.0)
    focal, bce = build_loss("focal"), build_loss("bce")
    assert focal(easy, targets) / bce(easy, targets) < focal(hard, targets) / bce(hard, targets)


def test_family_loss_prefers_confusions_within_a_family():
    targets = torch.zeros(1, 11)
    targets[0, 0] = 1  # cello
    within, across = torch.full((1, 11), -6.0), torch.full((1, 11), -6.0)
    within[0, 9] = 6.0   # says violin (strings)
    across[0, 8] = 6.0   # says trumpet (brass)
    loss = build_loss("bce+family")
    assert loss(within, targets) < loss(across, targets)


def test_label_smoothing_and_names():
    for name in LOSSES:
        assert torch.isfinite(build_loss(name, label_smoothing=0.1)(torch.randn(3, 11), torch.zeros(3, 11)))
    with pytest.raises(ConfigError, match="unknown loss"):
        build_loss("hinge")

import pytest
import torch
import torch.nn.functional as F

from instrumentid.errors import ConfigError
from instrumentid.training.losses import LOSSES, build_loss, smooth


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
    within[0, 9] = 6.0  # says violin (strings)
    across[0, 8] = 6.0  # says trumpet (brass)
    loss = build_loss("bce+family")
    assert loss(within, targets) < loss(across, targets)


def test_label_smoothing_moves_targets_towards_one_half():
    assert smooth(torch.tensor([1.0, 0.0]), 0.2).tolist() == pytest.approx([0.9, 0.1])
    assert smooth(torch.tensor([1.0, 0.0]), 0.0).tolist() == [1.0, 0.0]


def test_smoothed_bce_matches_a_hand_computation():
    # BCE with logits is softplus(x) - t*x; targets 1 and 0 smoothed by 0.2 become 0.9 and 0.1:
    # ((log(1 + e^2) - 0.9 * 2) + (log(1 + e^-1) + 0.1 * 1)) / 2 = (0.326928 + 0.413262) / 2
    logits, targets = torch.tensor([[2.0, -1.0]]), torch.tensor([[1.0, 0.0]])
    assert build_loss("bce", label_smoothing=0.2)(logits, targets).item() == pytest.approx(0.370095, abs=1e-6)
    assert build_loss("bce")(logits, targets).item() == pytest.approx(0.220095, abs=1e-6)  # unsmoothed


def test_smoothed_focal_matches_a_hand_computation():
    # x = 2, t = 1 -> 0.9: p = sigmoid(2) = 0.880797, p_t = 0.9 p + 0.1 (1 - p) = 0.804638,
    # alpha weight 0.25 * 0.9 + 0.75 * 0.1 = 0.3, ce = 0.326928: 0.3 * (1 - p_t)^2 * ce = 0.0037433
    loss = build_loss("focal", label_smoothing=0.2)(torch.tensor([[2.0]]), torch.tensor([[1.0]]))
    assert loss.item() == pytest.approx(0.0037433, abs=1e-7)


@pytest.mark.parametrize("name", LOSSES)
def test_every_loss_takes_label_smoothing(name):
    assert torch.isfinite(build_loss(name, label_smoothing=0.1)(torch.randn(3, 11), torch.zeros(3, 11)))


def test_unknown_loss_names_the_choices():
    with pytest.raises(ConfigError, match="unknown loss 'hinge'; choose one of bce, focal"):
        build_loss("hinge")

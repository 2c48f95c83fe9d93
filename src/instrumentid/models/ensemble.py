"""An ensemble of trained bundles as one registry model: raw windows in, combined logits out.

The contract with the predictor is that of any ``waveform`` model: the ensemble bundle's
``features`` are ``{"name": "waveform", "sample_rate": R}`` (R the highest member rate) and
its ``model.params`` hold every member's own ``model``, ``features``, ``normalization`` and
``sample_rate`` (``members``), and the combination ``weights`` (``(members, labels)``, each
label's column summing to 1). For each window the model resamples the waveform to a member's
rate when it differs (band-limited sinc interpolation in torch), runs that member's own
front-end and network, and returns ``logit(Σ_m weights[m] · sigmoid(logits_m))``: the
predictor's sigmoid then gives the weighted mean of the members' window probabilities, and
with ``mean`` aggregation the file scores are the weighted mean of the members' file scores.
Members' weights live in the ensemble's state dict under ``members.<i>.``. Assemble one with
:func:`instrumentid.training.ensembling.make_ensemble` (``instrumentid ensemble``); it is not trained.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from instrumentid.errors import ConfigError
from instrumentid.frontends.core import build_frontend
from instrumentid.models.registry import build, register

#: Probabilities are clamped to [EPS, 1 - EPS] before the logit, so it stays finite.
EPS = 1e-7


class SincResample(nn.Module):
    """``(batch, samples)`` at ``orig_rate`` → ``(batch, ceil(samples · new / orig))`` at ``new_rate``.

    Hann-windowed sinc interpolation over ``zero_crossings`` zero crossings with the cut-off at
    ``rolloff`` times the lower Nyquist frequency, one polyphase kernel per output phase
    (torchaudio's default ``sinc_interp_hann``). The predictor resamples files with soxr; this
    runs inside the model, on tensors, for members listening at a lower rate.
    """

    def __init__(self, orig_rate: int, new_rate: int, zero_crossings: int = 6, rolloff: float = 0.99) -> None:
        super().__init__()
        divisor = math.gcd(int(orig_rate), int(new_rate))
        self.orig, self.new = int(orig_rate) // divisor, int(new_rate) // divisor
        cutoff = min(self.orig, self.new) * rolloff
        self.width = math.ceil(zero_crossings * self.orig / cutoff)
        taps = torch.arange(-self.width, self.width + self.orig, dtype=torch.float64)[None, None] / self.orig
        t = (torch.arange(0, -self.new, -1, dtype=torch.float64)[:, None, None] / self.new + taps) * cutoff
        t = t.clamp(-zero_crossings, zero_crossings)
        window = torch.cos(t * math.pi / zero_crossings / 2) ** 2
        t = t * math.pi
        sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / torch.where(t == 0, torch.ones_like(t), t))
        self.register_buffer("kernels", (sinc * window * cutoff / self.orig).float(), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if self.orig == self.new:
            return waveform
        n = waveform.shape[-1]
        padded = F.pad(waveform[:, None], (self.width, self.width + self.orig))
        phases = F.conv1d(padded, self.kernels, stride=self.orig)  # (batch, new, blocks)
        return phases.transpose(1, 2).reshape(waveform.shape[0], -1)[:, : math.ceil(self.new * n / self.orig)]


class EnsembleModel(nn.Module):
    """Waveform windows ``(batch, 1, samples)`` at ``sample_rate`` → combined logits ``(batch, n_labels)``."""

    gradcam_layer = None  # several networks: no single map explains the score

    def __init__(
        self, members: Sequence[Mapping], weights: Sequence[Sequence[float]], sample_rate: int, n_labels: int
    ) -> None:
        super().__init__()
        if not members:
            raise ConfigError(
                "an ensemble is assembled from trained bundles, not trained: "
                "instrumentid ensemble A.iid B.iid --out E.iid"
            )
        self.members = nn.ModuleList(build(m["model"]["name"], **m["model"].get("params", {})) for m in members)
        self.frontends = nn.ModuleList(build_frontend(m["features"], m["normalization"]) for m in members)
        self.resamplers = nn.ModuleList(SincResample(sample_rate, int(m["sample_rate"])) for m in members)
        weights_t = torch.tensor(weights, dtype=torch.float32, device="cpu")  # read below, also under a meta device
        if weights_t.shape != (len(members), n_labels) or bool((weights_t < 0).any()):
            raise ConfigError(f"ensemble weights must be {len(members)} x {n_labels} non-negative numbers")
        self.register_buffer("weights", weights_t / weights_t.sum(dim=0, keepdim=True), persistent=False)
        #: the predictor scores short files at their own length only if every member does
        self.variable_length = all(getattr(m, "variable_length", False) for m in self.members)

    def _inputs(self, x: torch.Tensor):
        waveform = x.reshape(x.shape[0], -1)
        for member, frontend, resample in zip(self.members, self.frontends, self.resamplers, strict=True):
            yield member, frontend(resample(waveform))

    def member_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Every member's window probabilities ``(members, batch, n_labels)``."""
        return torch.stack([torch.sigmoid(member(features)) for member, features in self._inputs(x)])

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The members' embeddings side by side ``(batch, Σ embedding_dim)``."""
        return torch.cat([member.embed(features) for member, features in self._inputs(x)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        combined = (self.weights[:, None, :] * self.member_probabilities(x)).sum(dim=0).clamp(EPS, 1 - EPS)
        return torch.log(combined) - torch.log1p(-combined)


@register(
    "ensemble",
    "bundles combined by weighted mean of probabilities (built by 'instrumentid ensemble')",
    frontend="waveform",
    normalize=False,
    trainable=False,
)
def build_ensemble(members=(), weights=None, sample_rate: int = 16_000, n_labels: int = 11) -> EnsembleModel:
    weights = weights if weights is not None else [[1.0] * n_labels for _ in members]
    return EnsembleModel(members, weights, sample_rate, n_labels)

"""A bidirectional LSTM over spectrogram frames, pooled by mean+max or by additive attention.

Each frame (all channels × bins of one time step, already standardised by the front-end's
normalisation) is fed to a bi-LSTM; the sequence of hidden states is pooled into one
embedding: the mean and the maximum over time, or (``attention=True``) Bahdanau's additive
attention, ``score_t = v · tanh(W h_t + b)``, ``weights = softmax_t(score)``,
``embedding = Σ_t weights_t h_t`` — the window's evidence weighted by where the network finds
the instrument. The Lumen Data Science 2023 2nd-place system, which this package re-creates,
compared both on mel spectrograms and MFCCs; ``train --model lstm --model-params '{attention: true}'``.
"""

from __future__ import annotations

import torch
from torch import nn

from instrumentid.errors import ConfigError
from instrumentid.models.registry import register


class AdditiveAttention(nn.Module):
    """Bahdanau attention pooling of ``(batch, steps, dim)`` → ``(batch, dim)`` and the weights ``(batch, steps)``."""

    def __init__(self, dim: int, attention_dim: int = 128) -> None:
        super().__init__()
        self.project = nn.Linear(dim, attention_dim)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights = torch.softmax(self.score(torch.tanh(self.project(states))).squeeze(-1), dim=1)
        return torch.bmm(weights.unsqueeze(1), states).squeeze(1), weights


class LSTMClassifier(nn.Module):
    """Spectrogram ``(batch, in_channels, n_bins, frames)`` → logits ``(batch, n_labels)``.

    Parameters
    ----------
    n_labels : number of outputs.
    in_channels, n_bins : input geometry (``train`` fills them in from the front-end).
    hidden_size, num_layers : of the LSTM, per direction.
    attention : additive attention pooling instead of mean+max over time.
    attention_dim : width of the attention's hidden layer.
    dropout : between LSTM layers and before the head.
    """

    gradcam_layer = None  # a recurrent network has no convolutional map to weight

    def __init__(
        self,
        n_labels: int = 11,
        in_channels: int = 1,
        n_bins: int = 64,
        hidden_size: int = 128,
        num_layers: int = 2,
        attention: bool = False,
        attention_dim: int = 128,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.frame_size = in_channels * n_bins
        self.lstm = nn.LSTM(
            self.frame_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        states = 2 * hidden_size
        self.attention = AdditiveAttention(states, attention_dim) if attention else None
        self.embedding_dim = states if attention else 2 * states
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.embedding_dim, n_labels)
        #: attention weights ``(batch, frames)`` of the last forward pass (None without attention)
        self.last_attention: torch.Tensor | None = None

    def states(self, x: torch.Tensor) -> torch.Tensor:
        """Bi-LSTM hidden states ``(batch, frames, 2 * hidden_size)``."""
        batch, channels, bins, frames = x.shape
        if channels * bins != self.frame_size:
            raise ConfigError(f"lstm was built for {self.frame_size} values per frame, got {channels} x {bins}")
        sequence = x.permute(0, 3, 1, 2).reshape(batch, frames, channels * bins)
        return self.lstm(sequence)[0]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled hidden states ``(batch, embedding_dim)``."""
        states = self.states(x)
        if self.attention is None:
            return torch.cat([states.mean(dim=1), states.amax(dim=1)], dim=1)
        pooled, self.last_attention = self.attention(states)
        return pooled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x)))


@register(
    "lstm",
    "bidirectional LSTM over spectrogram frames; '{attention: true}' pools with additive attention",
    geometry=("in_channels", "n_bins"),
)
def build_lstm(
    n_labels: int = 11,
    in_channels: int = 1,
    n_bins: int = 64,
    hidden_size: int = 128,
    num_layers: int = 2,
    attention: bool = False,
    attention_dim: int = 128,
    dropout: float = 0.2,
) -> LSTMClassifier:
    return LSTMClassifier(n_labels, in_channels, n_bins, hidden_size, num_layers, attention, attention_dim, dropout)

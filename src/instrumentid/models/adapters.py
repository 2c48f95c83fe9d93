"""Adapters for the transformer backbones (AST, Wav2Vec2): freeze the backbone, train a little.

``adapter="bottleneck"`` adds after every transformer layer a residual bottleneck ``h + up(
gelu(down(h)))`` (Houlsby et al. 2019; one per layer, after the feed-forward block, as in
Pfeiffer et al. 2020) with ``adapter_size`` hidden units. ``adapter="lora"`` adds to the query
and value projections of every attention a low-rank update ``(lora_alpha / lora_rank) · B A x``
(Hu et al. 2021). Both start as the identity (``up`` and ``B`` are zero-initialised), so the
adapted network begins exactly where the pretrained one is; the backbone's own weights are
frozen and never change.

The adapters are attached with forward hooks, so the backbone's module names and weights
stay those of the original checkpoint; the adapter weights are registered on the classifier
(``adapters.*`` in the bundle's state dict) and a bundle rebuilds them through the registry.
Written in plain torch (about as much code as configuring ``peft`` would take, and no new
dependency, nor peft's renamed parameters in the bundle).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from instrumentid.errors import ConfigError

ADAPTERS = ("bottleneck", "lora")
#: Attention projections LoRA adapts (Hugging Face names in AST and Wav2Vec2).
LORA_TARGETS = ("q_proj", "v_proj")


class BottleneckAdapter(nn.Module):
    """``h + up(gelu(down(h)))`` on the last axis; ``up`` starts at zero (identity)."""

    def __init__(self, dim: int, size: int) -> None:
        super().__init__()
        self.down = nn.Linear(dim, size)
        self.up = nn.Linear(size, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.up(F.gelu(self.down(hidden)))


class LoRA(nn.Module):
    """The low-rank update ``scale · up(down(x))`` added to a frozen linear layer's output."""

    def __init__(self, in_features: int, out_features: int, rank: int, alpha: float) -> None:
        super().__init__()
        self.down = nn.Linear(in_features, rank, bias=False)
        self.up = nn.Linear(rank, out_features, bias=False)
        nn.init.zeros_(self.up.weight)
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.up(self.down(x))


def transformer_layers(backbone: nn.Module) -> nn.ModuleList:
    """The backbone's list of transformer layers (the first module list whose items have an ``attention``)."""
    for module in backbone.modules():
        if isinstance(module, nn.ModuleList) and len(module) and all(hasattr(m, "attention") for m in module):
            return module
    raise ConfigError(f"{type(backbone).__name__} has no transformer layers to adapt")


def _on_hidden(output, function):
    """Apply ``function`` to a layer's hidden states, whether it returns them alone or first in a tuple."""
    if isinstance(output, tuple):
        return (function(output[0]), *output[1:])
    return function(output)


def attach_adapters(
    backbone: nn.Module, kind: str, *, adapter_size: int = 64, lora_rank: int = 8, lora_alpha: float = 16.0
) -> nn.ModuleList:
    """Freeze ``backbone`` and hook adapters of ``kind`` into it; returns them (register them on the model)."""
    if kind not in ADAPTERS:
        raise ConfigError(f"unknown adapter {kind!r}; choose one of {', '.join(ADAPTERS)}")
    if adapter_size < 1 or lora_rank < 1:
        raise ConfigError("adapter_size and lora_rank must be positive")
    backbone.requires_grad_(False)
    adapters = nn.ModuleList()
    for layer in transformer_layers(backbone):
        if kind == "bottleneck":
            adapter = BottleneckAdapter(backbone.config.hidden_size, adapter_size)
            layer.register_forward_hook(lambda _m, _args, output, a=adapter: _on_hidden(output, a))
            adapters.append(adapter)
            continue
        for name, linear in layer.attention.named_children():
            if name in LORA_TARGETS and isinstance(linear, nn.Linear):
                lora = LoRA(linear.in_features, linear.out_features, lora_rank, lora_alpha)
                linear.register_forward_hook(lambda _m, args, output, low=lora: output + low(args[0]))
                adapters.append(lora)
    if not adapters:
        raise ConfigError(f"no {', '.join(LORA_TARGETS)} projections found to adapt with LoRA")
    return adapters

"""Grad-CAM: where in the spectrogram the model looks when it scores one instrument.

For every analysis window, the activations ``A`` of ``model.gradcam_layer`` (the last conv
block) are weighted by the spatial mean of the gradient of the label's logit with respect to
them, summed over channels and rectified: ``cam = relu(sum_c mean(dlogit/dA_c) * A_c)``
(Selvaraju et al., 2017). Each window's map is upsampled to the spectrogram's size and the
windows are stitched along time (overlaps averaged), giving one heat map per file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from instrumentid.errors import ConfigError
from instrumentid.labels import NAMES


def resolve_label(label: str | None, labels, scores: np.ndarray | None = None) -> int:
    """Index of ``label`` (code or instrument name) in ``labels``; the top-scoring one when None."""
    if label is None:
        if scores is None:
            raise ConfigError("a label to explain is required", option="label")
        return int(np.argmax(scores))
    by_name = {NAMES.get(code, code): code for code in labels}
    code = by_name.get(label, label)
    if code not in labels:
        raise ConfigError(f"label {label!r} is not one of the model's labels ({', '.join(labels)})", option="label")
    return list(labels).index(code)


def window_cams(model, features, label_index: int) -> np.ndarray:
    """Grad-CAM maps ``(n_windows, n_mels, n_frames)`` (unnormalised, >= 0) for one label."""
    import torch
    import torch.nn.functional as F

    layer = getattr(model, "gradcam_layer", None)
    if layer is None:
        raise ConfigError(f"model {type(model).__name__} has no gradcam_layer to hook")
    captured = {}
    handle = layer.register_forward_hook(lambda _m, _i, output: captured.__setitem__("a", output))
    try:
        # a normal tensor (not inference mode) that requires grad, so a frozen backbone's
        # activations are still part of the graph
        x = features.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            logits = model(x)
            activations = captured["a"]
            (grads,) = torch.autograd.grad(logits[:, label_index].sum(), activations)
    finally:
        handle.remove()
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * activations).sum(dim=1, keepdim=True))
    if getattr(model, "gradcam_time_first", False):
        cam = cam.transpose(2, 3)  # the layer's map is (time, frequency): back to the input's (mels, frames)
    cam = F.interpolate(cam, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
    return cam[:, 0].detach().cpu().numpy()


def stitch(maps: np.ndarray, starts_s, frames_per_second: float, total_frames: int) -> np.ndarray:
    """Place per-window maps ``(n, rows, frames)`` at their start times; overlaps are averaged."""
    n, rows, width = maps.shape
    total = max(total_frames, width)
    summed = np.zeros((rows, total))
    counts = np.zeros(total)
    for window, start in zip(maps, starts_s, strict=True):
        offset = min(int(round(float(start) * frames_per_second)), total - width)
        summed[:, offset : offset + width] += window
        counts[offset : offset + width] += 1
    return summed / np.maximum(counts, 1)


def gradcam(predictor, path, label: str | None = None) -> dict:
    """Grad-CAM of one file for one label.

    Returns
    -------
    dict
        ``label`` (code), ``score`` (file score, bundle aggregation), ``heatmap`` (n_mels,
        n_frames) in [0, 1], ``spectrogram`` (the normalised log-mel, same shape), ``seconds``
        (duration covered), ``starts_s`` and ``window_scores`` of the label.
    """
    from instrumentid.inference.windows import aggregate

    starts, window_scores = predictor.window_scores(path)
    file_scores = aggregate(window_scores, predictor.aggregation)
    j = resolve_label(label, predictor.labels, file_scores)
    features = predictor.window_features(path)
    maps = window_cams(predictor.model, features, j)
    n_frames = features.shape[-1]
    fps = n_frames / predictor.window_s
    seconds = max(float(starts[-1]) + predictor.window_s, predictor.window_s)
    total = int(round(seconds * fps))
    heat = stitch(maps, starts, fps, total)
    spec = stitch(features[:, 0].numpy(), starts, fps, total)
    heat = heat / heat.max() if heat.max() > 0 else heat
    return {
        "label": predictor.labels[j],
        "score": float(file_scores[j]),
        "heatmap": heat,
        "spectrogram": spec,
        "seconds": seconds,
        "starts_s": np.asarray(starts),
        "window_scores": window_scores[:, j],
    }


def plot_gradcam(result: dict, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Spectrogram with the Grad-CAM heat map overlaid, and the label's window scores over time."""
    from instrumentid.evaluation import plots as P

    plt = P.pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 4.6), height_ratios=[3, 1], sharex=True)
    extent = (0, result["seconds"], 0, result["spectrogram"].shape[0])
    top.imshow(result["spectrogram"], origin="lower", aspect="auto", cmap="gray_r", extent=extent)
    image = top.imshow(
        result["heatmap"], origin="lower", aspect="auto", cmap="jet", alpha=0.45, extent=extent, vmin=0, vmax=1
    )
    fig.colorbar(image, ax=[top, bottom], fraction=0.03, pad=0.02, label="Grad-CAM (relative)")
    top.set_ylabel("mel band")
    code = result["label"]
    top.set_title(title or f"Grad-CAM for {NAMES.get(code, code)} ({code}), file score {result['score']:.2f}")
    scores = np.append(result["window_scores"], result["window_scores"][-1])
    bottom.step(np.append(result["starts_s"], result["seconds"]), scores, where="post")
    bottom.set_ylim(0, 1)
    bottom.set_ylabel("score", fontsize=8)
    bottom.set_xlabel("time (s)")
    return P.save(fig, path)


def gradcam_file(path, model=None, label: str | None = None, out=None) -> dict:
    """Load bundle ``model``, compute Grad-CAM of ``path`` for ``label`` and save the PNG to ``out``
    (default ``<file stem>.gradcam.<label>.png`` beside the current folder)."""
    from instrumentid.inference.predictor import Predictor

    predictor = Predictor.from_bundle(model, runtime="torch")
    result = gradcam(predictor, path, label)
    out = Path(out) if out is not None else Path(f"{Path(path).stem}.gradcam.{result['label']}.png")
    result["png"] = plot_gradcam(result, out)
    return result

"""The signal maths of the front-ends: mel scales and filterbanks, the power STFT (and the form
it takes in an exported ONNX graph: Gather and two MatMuls, a four-step DFT), dB conversion.

Pure functions over numpy and torch; no module state, no registry.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch


def _hz_to_mel(freq: np.ndarray) -> np.ndarray:
    """Slaney mel scale (librosa's default ``htk=False``)."""
    freq = np.asarray(freq, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = freq / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(freq >= min_log_hz, min_log_mel + np.log(np.maximum(freq, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), freqs)


def _hz_to_mel_htk(freq: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(freq, dtype=np.float64) / 700.0)


def _mel_to_hz_htk(mels: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mels, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    *, sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool = False, norm: bool = True
) -> np.ndarray:
    """Triangular mel filters, ``shape=(n_mels, 1 + n_fft // 2)``.

    ``htk=False, norm=True`` is librosa's default (Slaney scale, area-normalised);
    ``htk=True, norm=False`` is YAMNet's (``librosa.filters.mel(htk=True, norm=None)``).
    """
    to_mel, to_hz = (_hz_to_mel_htk, _mel_to_hz_htk) if htk else (_hz_to_mel, _mel_to_hz)
    fft_freqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    mel_points = to_hz(np.linspace(to_mel(fmin), to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    weights = np.zeros((n_mels, len(fft_freqs)))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    if norm:
        weights *= (2.0 / (mel_points[2 : n_mels + 2] - mel_points[:n_mels]))[:, None]
    return weights.astype(np.float32)


#: Largest FFT exported as matrix products: their constants grow as n_fft^1.5 (0.5 MB at 1024 points).
MATMUL_DFT_MAX = 4096


def stft_power(waveform: torch.Tensor, n_fft: int, hop_length: int, window: torch.Tensor) -> torch.Tensor:
    """|STFT|² ``(batch, 1 + n_fft // 2, frames)`` of frames at 0, hop, 2·hop, … (no centring).

    While exporting to ONNX it takes a form made of Gather and MatMul (:func:`_export_stft_power`)
    up to ``MATMUL_DFT_MAX`` points, ONNX's ``STFT`` operator above; the numbers are the same to
    float32 rounding.
    """
    if torch.onnx.is_in_onnx_export():
        if n_fft <= MATMUL_DFT_MAX:
            return _export_stft_power(waveform, n_fft, hop_length, window)
        spec = torch.stft(waveform, n_fft, hop_length, window=window, center=False, return_complex=False)
        return spec.square().sum(-1)  # ONNX's STFT operator (opset 17)
    spec = torch.stft(waveform, n_fft, hop_length, window=window, center=False, return_complex=True)
    return spec.real.square() + spec.imag.square()


def _export_stft_power(waveform: torch.Tensor, n_fft: int, hop_length: int, window: torch.Tensor) -> torch.Tensor:
    """:func:`stft_power` as the exported graph computes it, with Gather and MatMul.

    ONNX has no complex tensors, and onnxruntime's ``STFT`` operator was the slowest node of
    every exported model (about 60 % of the ``fast`` graph's time). Here the frames are gathered
    from blocks of ``gcd(n_fft, hop)`` samples, and the DFT is the four-step (Cooley–Tukey)
    factorisation ``n_fft = n1·n2`` (sample ``n = n1·n2_count + n2``, bin ``k = k1 + n1_count·k2``):
    length-``n1`` DFTs as one matrix product, twiddle factors, length-``n2`` DFTs as a second
    product, for the bins up to Nyquist only.
    """
    n1, n2 = _four_step_factors(n_fft)
    first_re, first_im, twiddle_cos, twiddle_sin, second, pair_sum = map(torch.from_numpy, _four_step_matrices(n_fft))
    batch, block = waveform.shape[0], math.gcd(n_fft, hop_length)
    n_frames = (waveform.shape[-1] - n_fft) // hop_length + 1
    blocks = waveform[:, : (n_frames - 1) * hop_length + n_fft].reshape(batch, -1, block)
    index = torch.arange(n_frames).unsqueeze(1) * (hop_length // block) + torch.arange(n_fft // block).unsqueeze(0)
    frames = (blocks[:, index].reshape(batch, n_frames, n_fft) * window).reshape(batch, n_frames, n1, n2)
    a_re, a_im = torch.matmul(first_re, frames), torch.matmul(first_im, frames)  # (…, k1, n2)
    b_re = a_re * twiddle_cos + a_im * twiddle_sin  # times exp(-2πi·n2·k1 / n_fft)
    b_im = a_im * twiddle_cos - a_re * twiddle_sin
    spectrum = torch.matmul(torch.cat([b_re, b_im], dim=-1), second)  # (…, k1, [re k2 | im k2])
    power = torch.matmul(spectrum.square(), pair_sum)  # re² + im²: (batch, frames, k1, k2)
    power = power.transpose(2, 3).reshape(batch, n_frames, -1)[..., : n_fft // 2 + 1]  # bin k2·n1_count + k1
    return power.transpose(1, 2)


def _four_step_factors(n: int) -> tuple[int, int]:
    """``n = n1·n2`` with ``n1`` the largest divisor not above √n (1 for a prime: a plain DFT)."""
    n1 = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return n1, n // n1


@functools.lru_cache(maxsize=8)
def _four_step_matrices(n: int) -> tuple[np.ndarray, ...]:
    """Constants of :func:`_export_stft_power`: the length-``n1`` DFT (real part, imaginary
    part), the twiddles ``exp(-2πi·n2·k1/n)`` (cosine, sine) and the length-``n2`` DFT mapping
    ``[re | im]`` over ``n2`` to ``[re | im]`` over the ``k2`` that reach Nyquist, and the sum of
    the two halves (a product is faster than a reduction in onnxruntime)."""
    n1, n2 = _four_step_factors(n)
    first = 2 * np.pi * np.outer(np.arange(n1), np.arange(n1)) / n1  # (k1, n1)
    twiddle = 2 * np.pi * np.outer(np.arange(n1), np.arange(n2)) / n  # (k1, n2)
    angle = 2 * np.pi * np.outer(np.arange(n2), np.arange((n // 2) // n1 + 1)) / n2  # (n2, k2)
    second = np.block([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pair_sum = np.vstack([np.eye(angle.shape[1]), np.eye(angle.shape[1])])
    return tuple(
        m.astype(np.float32)
        for m in (np.cos(first), -np.sin(first), np.cos(twiddle), np.sin(twiddle), second, pair_sum)
    )


def power_to_db(power: torch.Tensor, *, top_db: float | None = 80.0, amin: float = 1e-10) -> torch.Tensor:
    """librosa's ``power_to_db(S, ref=1.0, amin, top_db)`` on ``(batch, bins, frames)``: the
    floor ``max - top_db`` is taken per example (librosa takes it per call, one example)."""
    db = 10.0 * torch.log10(torch.clamp(power, min=amin))
    if top_db is not None:
        peak = db.amax(dim=(-2, -1), keepdim=True)
        db = torch.maximum(db, peak - top_db)
    return db

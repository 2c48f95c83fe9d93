"""Hand-crafted audio features for the classical baseline (librosa, imported lazily).

Frame-level descriptors on ~0.1 s frames (``n_fft=2048`` at 22.05 kHz = 93 ms, hop 46 ms):
MFCCs, spectral centroid, bandwidth, contrast, rolloff and flatness, zero-crossing rate, RMS
and spectral entropy; each summarised over time by its mean and standard deviation, giving one
fixed-length vector per file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

#: Default analysis rate (Hz) and frame sizes of the classical features.
SAMPLE_RATE = 22_050
N_FFT = 2048
HOP_LENGTH = 1024
N_MFCC = 20
N_CONTRAST_BANDS = 6  # librosa returns n_bands + 1 rows


def _descriptor_names(n_mfcc: int = N_MFCC) -> list[str]:
    return (
        [f"mfcc{i}" for i in range(n_mfcc)]
        + ["centroid", "bandwidth"]
        + [f"contrast{i}" for i in range(N_CONTRAST_BANDS + 1)]
        + ["rolloff", "flatness", "zcr", "rms", "entropy"]
    )


def feature_names(n_mfcc: int = N_MFCC) -> list[str]:
    """Names of the vector :func:`extract_features` returns (``<descriptor>_mean`` then ``_std``)."""
    names = _descriptor_names(n_mfcc)
    return [f"{n}_mean" for n in names] + [f"{n}_std" for n in names]


def spectral_entropy(power: np.ndarray) -> np.ndarray:
    """Normalised Shannon entropy of each frame of a power spectrogram ``(n_bins, n_frames)`` in [0, 1]."""
    p = power / np.maximum(power.sum(axis=0, keepdims=True), 1e-12)
    entropy = -(p * np.log2(np.maximum(p, 1e-12))).sum(axis=0)
    return entropy / np.log2(power.shape[0])


def frame_descriptors(
    y: np.ndarray, sr: int = SAMPLE_RATE, *, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH, n_mfcc: int = N_MFCC
) -> np.ndarray:
    """Frame-level descriptors ``(n_descriptors, n_frames)`` of a mono signal ``y``."""
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.size < n_fft:
        y = np.pad(y, (0, n_fft - y.size))
    magnitude = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length))
    power = magnitude**2
    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=64)
    rows = [
        librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=n_mfcc),
        librosa.feature.spectral_centroid(S=magnitude, sr=sr),
        librosa.feature.spectral_bandwidth(S=magnitude, sr=sr),
        librosa.feature.spectral_contrast(S=magnitude, sr=sr, n_bands=N_CONTRAST_BANDS, fmin=100.0),
        librosa.feature.spectral_rolloff(S=magnitude, sr=sr),
        librosa.feature.spectral_flatness(S=magnitude),
        librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop_length),
        librosa.feature.rms(S=magnitude, frame_length=n_fft),
        spectral_entropy(power)[None, :],
    ]
    frames = min(r.shape[1] for r in rows)
    return np.concatenate([r[:, :frames] for r in rows], axis=0)


def extract_features(y: np.ndarray, sr: int = SAMPLE_RATE, **kwargs) -> np.ndarray:
    """One vector per signal: mean and std over time of :func:`frame_descriptors` (float64)."""
    frames = frame_descriptors(y, sr, **kwargs).astype(np.float64)
    return np.concatenate([frames.mean(axis=1), frames.std(axis=1)])


def file_features(path: str | os.PathLike, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode ``path`` (mono, resampled to ``sample_rate``) and return its feature vector."""
    from instrumentid import audio

    y, sr = audio.load(path, sample_rate=sample_rate)
    return extract_features(y, sr)


def dataset_features(
    examples: Sequence, *, sample_rate: int = SAMPLE_RATE, progress: bool = False
) -> tuple[np.ndarray, list, list[dict]]:
    """Features of every example: ``(X (n_ok, n_features), ok_examples, errors)``."""
    from instrumentid.data.per_file import map_files

    vectors, kept, errors = map_files(
        examples, lambda path: file_features(path, sample_rate=sample_rate), desc="features", progress=progress
    )
    X = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), len(feature_names()))
    return X, kept, errors


def feature_variance(X: np.ndarray, names: Sequence[str]) -> list[dict]:
    """Rank features by variance after min-max scaling each to [0, 1] (scale-free, largest first).

    Returns ``[{"feature", "variance", "scaled_variance"}]``; raw variance is kept for reference.
    """
    X = np.asarray(X, dtype=np.float64)
    span = X.max(axis=0) - X.min(axis=0)
    scaled = (X - X.min(axis=0)) / np.where(span > 0, span, 1.0)
    raw, var = X.var(axis=0), scaled.var(axis=0)
    order = np.argsort(var)[::-1]
    return [{"feature": names[i], "variance": float(raw[i]), "scaled_variance": float(var[i])} for i in order]

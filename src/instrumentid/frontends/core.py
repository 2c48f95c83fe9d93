"""Spectrogram front-ends as torch modules, and the normalisation statistics.

:class:`LogMel` turns a batch of mono waveforms ``(batch, samples)`` into log-mel
spectrograms ``(batch, 1, n_mels, frames)``. It matches ``librosa.feature.melspectrogram``
(``center=True``, ``pad_mode="constant"``, Hann window, Slaney mel scale and norm) followed by
``librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=top_db)`` to within 1e-3 dB on float32
input (``tests/test_features.py`` proves it), so models trained elsewhere on librosa features
read ours.

The feature config is a plain dict (``{"name": "logmel", "n_fft": ..., ...}``) stored in
every bundle; :func:`build_frontend` rebuilds the module from it, so it lives in one place.

Front-ends by name (:data:`FEATURES`; more register with :func:`register_frontend`):

==========  ==============================================================================
logmel      log-mel dB, 1 channel (alias ``mel``); librosa's ``melspectrogram`` + ``power_to_db``
yamnet      YAMNet's own log-mel (its AudioSet weights expect it)
waveform    the raw window, for models that learn their filters (Wav2Vec2, ensembles)
mfcc        MFCCs of the log-mel, optional delta / delta-delta channels
            (:mod:`instrumentid.frontends.mfcc`)
wavelet     constant-Q wavelet filterbank (librosa's pseudo-CQT), dB or log
            (:mod:`instrumentid.frontends.wavelet`)
multi       channels stacked: log-mel, MFCC upsampled, harmonic and percussive log-mel
            (:mod:`instrumentid.frontends.multi`)
==========  ==============================================================================

Every spectrogram front-end returns ``(batch, channels, bins, frames)``; normalisation
statistics are one mean/std, or one per channel for multi-channel front-ends. The STFT, mel and
DFT maths is :mod:`instrumentid.frontends.dsp`; importing the package registers mfcc, wavelet
and multi (they import this module, never the other way round).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from instrumentid.errors import ConfigError
from instrumentid.frontends.dsp import mel_filterbank, power_to_db, stft_power


@dataclass(frozen=True)
class LogMelConfig:
    """Parameters of the log-mel front-end (librosa names)."""

    sample_rate: int = 16_000
    n_fft: int = 1024
    hop_length: int = 320
    n_mels: int = 64
    fmin: float = 30.0
    fmax: float = 8000.0
    top_db: float | None = 80.0

    def to_dict(self) -> dict:
        return {"name": "logmel", **asdict(self)}

    def frames(self, n_samples: int) -> int:
        """Number of frames for ``n_samples`` input samples (``center=True``)."""
        return 1 + n_samples // self.hop_length


class FeatureExtractor(nn.Module, abc.ABC):
    """Base of every front-end module: waveforms ``(batch, samples)`` → model input.

    :meth:`forward` also takes one waveform ``(samples,)``, as a batch of one, then calls
    :meth:`extract`, which each front-end defines for a batch.
    """

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.extract(waveform.unsqueeze(0) if waveform.dim() == 1 else waveform)

    @abc.abstractmethod
    def extract(self, waveform: torch.Tensor) -> torch.Tensor:
        """The features of ``(batch, samples)``."""


class _MelModule(FeatureExtractor):
    """Holds a config, its analysis window and its mel filterbank as (non-persistent) buffers."""

    def __init__(self, config, window_length: int, *, htk: bool = False, norm: bool = True) -> None:
        super().__init__()
        self.config = c = config
        if c.fmax > c.sample_rate / 2:
            raise ConfigError(f"fmax={c.fmax} Hz is above the Nyquist frequency {c.sample_rate / 2} Hz")
        self.register_buffer("window", torch.hann_window(window_length, periodic=True), persistent=False)
        fb = mel_filterbank(
            sample_rate=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax, htk=htk, norm=norm
        )
        self.register_buffer("mel_basis", torch.from_numpy(fb), persistent=False)


class LogMel(_MelModule):
    """Waveforms ``(batch, samples)`` → log-mel dB ``(batch, 1, n_mels, frames)``.

    ``top_db`` clips each example to ``max - top_db`` like ``librosa.power_to_db``.
    """

    def __init__(self, config: LogMelConfig | None = None, **params) -> None:
        config = config or LogMelConfig(**params)
        super().__init__(config, config.n_fft)

    def power_spectrogram(self, waveform: torch.Tensor) -> torch.Tensor:
        """STFT power ``(batch, 1 + n_fft // 2, frames)`` (``center=True``, zero padding)."""
        c = self.config
        # center=True with pad_mode="constant", spelled out so the ONNX export frames alike
        padded = torch.nn.functional.pad(waveform, (c.n_fft // 2, c.n_fft // 2))
        return stft_power(padded, c.n_fft, c.hop_length, self.window)

    def power_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """Mel power spectrogram ``(batch, n_mels, frames)``."""
        return torch.matmul(self.mel_basis, self.power_spectrogram(waveform))

    def to_db(self, power_mel: torch.Tensor) -> torch.Tensor:
        """``power_to_db(S, ref=1.0, amin=1e-10, top_db)`` of ``(batch, n_mels, frames)``, per example."""
        return power_to_db(power_mel, top_db=self.config.top_db)

    def extract(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.to_db(self.power_mel(waveform)).unsqueeze(1)


def level_windows(waveform: torch.Tensor, level_dbfs: float, max_gain_db: float) -> torch.Tensor:
    """Scale each row of ``(batch, samples)`` to an RMS of ``level_dbfs`` dBFS, with at most
    ``max_gain_db`` of gain (digital silence stays silent) and never more than the row needs.

    Per window, so it streams, and a function of the window alone, so the exported graph does it too.
    """
    rms = waveform.square().mean(dim=-1, keepdim=True).sqrt()
    target = 10.0 ** (level_dbfs / 20.0)
    max_gain = 10.0 ** (max_gain_db / 20.0)
    gain = torch.clamp(target / torch.clamp(rms, min=1e-12), max=max_gain)
    return waveform * gain


@dataclass(frozen=True)
class YamnetMelConfig:
    """YAMNet's front-end (AudioSet-trained weights expect exactly this input).

    16 kHz mono; frames of ``win_length`` samples every ``hop_length`` (no centring, no
    padding), periodic Hann window, |FFT| of ``n_fft`` points (magnitude, not power),
    ``n_mels`` HTK-scale triangles from ``fmin`` to ``fmax`` without area normalisation,
    ``log(mel + log_offset)``.

    ``level_dbfs``: when set, every window is first scaled to that RMS level (:func:`level_windows`,
    at most ``max_gain_db`` of gain), so a clean recording at -50 dBFS reads like the same
    recording at -1 dBFS (YAMNet's fixed ``log_offset`` would otherwise bury it). ``None`` (the
    default, and every bundle made before the option) leaves the waveform as it is.
    """

    sample_rate: int = 16_000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 125.0
    fmax: float = 7500.0
    log_offset: float = 0.001
    level_dbfs: float | None = None
    max_gain_db: float = 60.0

    def to_dict(self) -> dict:
        return {"name": "yamnet", **asdict(self)}

    def frames(self, n_samples: int) -> int:
        """Number of frames for ``n_samples`` input samples (at least one: short input is padded)."""
        return max(1, 1 + (n_samples - self.win_length) // self.hop_length)


class YamnetLogMel(_MelModule):
    """Waveforms ``(batch, samples)`` → YAMNet log-mel ``(batch, 1, n_mels, frames)``.

    Frames start at 0, 160, 320, … and span 400 samples, as ``tf.signal.stft`` frames them
    for YAMNet; input shorter than one frame is zero-padded to one frame.
    """

    def __init__(self, config: YamnetMelConfig | None = None, **params) -> None:
        config = config or YamnetMelConfig(**params)
        super().__init__(config, config.win_length, htk=True, norm=False)

    def extract(self, waveform: torch.Tensor) -> torch.Tensor:
        c = self.config
        if c.level_dbfs is not None:
            waveform = level_windows(waveform, c.level_dbfs, c.max_gain_db)
        if waveform.shape[-1] < c.win_length:
            waveform = torch.nn.functional.pad(waveform, (0, c.win_length - waveform.shape[-1]))
        if torch.onnx.is_in_onnx_export():
            # the same frames as one STFT: the window zero-padded to n_fft, the signal padded so the
            # last frame that fits win_length is kept
            window = torch.nn.functional.pad(self.window, (0, c.n_fft - c.win_length))
            padded = torch.nn.functional.pad(waveform, (0, c.n_fft - c.win_length))
            magnitude = stft_power(padded, c.n_fft, c.hop_length, window).sqrt()  # (batch, bins, frames)
            return torch.log(torch.matmul(self.mel_basis, magnitude) + c.log_offset).unsqueeze(1)
        frames = waveform.unfold(-1, c.win_length, c.hop_length) * self.window  # (batch, frames, win)
        magnitude = torch.fft.rfft(frames, n=c.n_fft).abs()  # (batch, frames, 1 + n_fft // 2)
        mel = torch.matmul(magnitude, self.mel_basis.T)  # (batch, frames, n_mels)
        return torch.log(mel + c.log_offset).transpose(1, 2).unsqueeze(1)


@dataclass(frozen=True)
class WaveformConfig:
    """The raw-waveform "front-end" of models that learn their own filters (Wav2Vec2)."""

    sample_rate: int = 16_000

    def to_dict(self) -> dict:
        return {"name": "waveform", **asdict(self)}


class Waveform(FeatureExtractor):
    """Waveforms ``(batch, samples)`` → ``(batch, 1, samples)``."""

    def __init__(self, config: WaveformConfig | None = None, **params) -> None:
        super().__init__()
        self.config = config or WaveformConfig(**params)

    def extract(self, waveform: torch.Tensor) -> torch.Tensor:
        return waveform.unsqueeze(1)


class Normalize(nn.Module):
    """``(x - mean) / std`` with statistics stored as buffers (and in the bundle).

    ``mean`` and ``std`` are numbers, or one number per channel of ``(batch, channels, bins,
    frames)`` features (multi-channel front-ends, whose channels have different scales).
    """

    def __init__(self, mean: float | Sequence[float] = 0.0, std: float | Sequence[float] = 1.0) -> None:
        super().__init__()
        # on the CPU even under torch.device("meta") (inference.bundle.check_declared_sizes): the check below reads them
        mean_t = torch.as_tensor(mean, dtype=torch.float32, device="cpu")
        std_t = torch.as_tensor(std, dtype=torch.float32, device="cpu")
        if mean_t.shape != std_t.shape or mean_t.dim() > 1:
            raise ConfigError(
                f"normalisation mean and std must be two numbers or two lists of one length, got {mean!r} and {std!r}"
            )
        if not bool((std_t > 0).all()):
            raise ConfigError(f"normalisation std must be positive, got {std}")
        if mean_t.dim() == 1:  # per channel: broadcast over (batch, channels, bins, frames)
            mean_t, std_t = mean_t.view(-1, 1, 1), std_t.view(-1, 1, 1)
        self.register_buffer("mean", mean_t, persistent=False)
        self.register_buffer("std", std_t, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Frontend(nn.Sequential):
    """Feature extractor + normalisation: what turns window waveforms into model input."""

    def __init__(self, features: nn.Module, normalize: Normalize) -> None:
        super().__init__(features, normalize)

    @property
    def features(self) -> nn.Module:
        return self[0]


#: Front-end name → (module class, config dataclass). Extended by :func:`register_frontend`.
FEATURES = {
    "logmel": (LogMel, LogMelConfig),
    "yamnet": (YamnetLogMel, YamnetMelConfig),
    "waveform": (Waveform, WaveformConfig),
}
#: Other spellings accepted on input (the bundle always stores the canonical name).
ALIASES = {"mel": "logmel"}


def register_frontend(name: str, module_cls: type[FeatureExtractor], config_cls: type) -> None:
    """Add a front-end: ``module_cls(config)`` maps ``(batch, samples)`` to model input;
    ``config_cls`` is a frozen dataclass whose ``to_dict()`` includes ``"name": name``."""
    if name in FEATURES:
        raise ValueError(f"feature front-end {name!r} is already registered")
    FEATURES[name] = (module_cls, config_cls)


def feature_config(name: str = "logmel", **params) -> dict:
    """A validated feature config dict (defaults filled in)."""
    name = ALIASES.get(name, name)
    if name not in FEATURES:
        raise ConfigError(f"unknown feature front-end {name!r}; available: {', '.join(FEATURES)}")
    _, config_cls = FEATURES[name]
    known = set(config_cls.__dataclass_fields__)
    unknown = set(params) - known
    if unknown:
        raise ConfigError(f"unknown {name} parameter(s): {', '.join(sorted(unknown))}")
    return config_cls(**params).to_dict()


def build_frontend(features: Mapping, normalization: Mapping | None = None) -> Frontend:
    """Rebuild the front-end from a feature config dict and ``{"mean", "std"}``."""
    params = dict(features)
    name = params.pop("name", "logmel")
    module_cls, config_cls = FEATURES[name] if name in FEATURES else (None, None)
    if module_cls is None:
        raise ConfigError(f"unknown feature front-end {name!r}; available: {', '.join(FEATURES)}")
    normalization = normalization or {"mean": 0.0, "std": 1.0}
    return Frontend(module_cls(config_cls(**params)), Normalize(normalization["mean"], normalization["std"]))


def feature_shape(features: Mapping, n_samples: int) -> tuple[int, ...]:
    """Shape of one example's model input for a window of ``n_samples``: ``(channels, bins,
    frames)`` for spectrogram front-ends, ``(1, samples)`` for the waveform."""
    with torch.inference_mode():
        return tuple(build_frontend(features).features(torch.zeros(1, n_samples)).shape[1:])


@torch.inference_mode()
def compute_normalization(features: nn.Module, batches: Iterable[torch.Tensor]) -> dict:
    """Mean/std of the features over waveform batches (streaming, float64 sums): two numbers,
    or two lists with one entry per channel when the features have several channels."""
    total, total_sq, count = 0.0, 0.0, 0
    for waveform in batches:
        x = features(waveform).double()
        per_channel = x.dim() == 4 and x.shape[1] > 1
        dims = (0, 2, 3) if per_channel else tuple(range(x.dim()))
        total = total + x.sum(dim=dims)
        total_sq = total_sq + x.square().sum(dim=dims)
        count += x.numel() // (x.shape[1] if per_channel else 1)
    if count == 0:
        raise ConfigError("cannot compute normalisation statistics from an empty dataset")
    mean = total / count
    std = torch.sqrt(torch.clamp(total_sq / count - mean * mean, min=1e-12))
    if mean.dim() == 0:
        return {"mean": float(mean), "std": float(std)}
    return {"mean": mean.tolist(), "std": std.tolist()}

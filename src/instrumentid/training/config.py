"""Training configuration: one dataclass, loadable from YAML, every field also a CLI flag.

Augmentation settings are grouped in :class:`AugmentConfig`, which :class:`TrainConfig` holds
as ``augment`` and the LightningModule receives whole. YAML files, saved run configs and
flags name its fields at the top level (``mix_p: 0.5``, ``--mix-p 0.5``), like every other
field: the file format is flat.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from instrumentid.errors import ConfigError
from instrumentid.inference.windows import AGGREGATIONS
from instrumentid.labels import parse_label_set


@dataclass(frozen=True)
class AugmentConfig:
    """How often (and whether) each training augmentation acts; see :mod:`instrumentid.training.augment`."""

    mix_p: float = field(
        default=0.5, metadata={"help": "probability of mixing in each of up to 2 other clips (labels united)"}
    )
    noise_p: float = field(default=0.5, metadata={"help": "probability of added noise at 10-40 dB SNR"})
    eq_p: float = field(default=0.5, metadata={"help": "probability of random EQ colouring"})
    lowpass_p: float = field(
        default=0.25, metadata={"help": "probability of a random low-pass (band-limited recordings)"}
    )
    gain_p: float = field(default=0.8, metadata={"help": "probability of random gain"})
    specaugment: bool = field(default=True, metadata={"help": "frequency/time masking on features"})

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_p") and not 0.0 <= value <= 1.0:
                raise ConfigError(f"{f.name} is a probability between 0 and 1, got {value}")


def _mel_default(name: str) -> Any:
    """The log-mel front-end's default for ``name``, stated once, in
    :class:`~instrumentid.frontends.core.LogMelConfig` (imported when a config is made: it needs torch)."""
    from instrumentid.frontends.core import LogMelConfig

    return LogMelConfig.__dataclass_fields__[name].default


def _mel_field(name: str, help: str) -> Any:
    return field(default_factory=functools.partial(_mel_default, name), metadata={"help": help})


#: The log-mel parameters that are also TrainConfig fields (flags); their defaults are LogMelConfig's.
MEL_FIELDS = ("n_fft", "hop_length", "n_mels", "fmin", "fmax")

#: TrainConfig fields that group another dataclass's fields; YAML keys and flags name those
#: fields directly, at the top level.
GROUPS = {"augment": AugmentConfig}


@dataclass
class TrainConfig:
    """Everything ``instrumentid train`` needs; the resolved config is saved with every run."""

    # data
    data: list[str] = field(
        default_factory=list,
        metadata={"help": "training dataset(s): IRMAS folder, CSV, folder with labels.csv (repeatable)"},
    )
    val_data: list[str] = field(
        default_factory=list, metadata={"help": "validation dataset(s); default: a grouped split of --data"}
    )
    label_overrides: str = field(
        default="",
        metadata={
            "help": "CSV (file + label columns, e.g. from 'instrumentid label-issues') whose rows replace the "
            "labels of those training files"
        },
    )
    labels: str = field(
        default="irmas",
        metadata={
            "help": "the model's label set: irmas (the 11 IRMAS codes), all (the extended vocabulary of 33), "
            "extended, or codes like gac,pia,dru; data labels outside it are left out"
        },
    )
    val_fraction: float = field(
        default=0.15,
        metadata={"help": "fraction of --data groups held out for validation when --val-data is not given"},
    )
    # model and features
    model: str = field(default="cnn", metadata={"help": "registry name (see 'instrumentid models')"})
    model_params: dict = field(
        default_factory=dict, metadata={"help": "extra model parameters as YAML, e.g. '{dropout: 0.2}'"}
    )
    sample_rate: int = field(default=16_000, metadata={"help": "model sample rate (Hz)"})
    window_s: float = field(default=3.0, metadata={"help": "analysis window (seconds)"})
    hop_s: float = field(default=3.0, metadata={"help": "hop between windows at inference (seconds)"})
    features: str = field(
        default="logmel",
        metadata={"help": "feature front-end of spectrogram models: logmel (alias mel) | mfcc | wavelet | multi"},
    )
    feature_params: dict = field(
        default_factory=dict,
        metadata={
            "help": "front-end parameters as YAML, e.g. '{n_mfcc: 20, deltas: 2}' (mfcc), "
            "'{fmin: 55, n_bins: 84, scale: log}' (wavelet), '{channels: [mel, mfcc, harmonic, percussive]}' (multi)"
        },
    )
    n_mels: int = _mel_field("n_mels", "mel bands")
    n_fft: int = _mel_field("n_fft", "FFT size (samples)")
    hop_length: int = _mel_field("hop_length", "STFT hop (samples)")
    fmin: float = _mel_field("fmin", "lowest mel frequency (Hz)")
    fmax: float = _mel_field("fmax", "highest mel frequency (Hz)")
    # optimisation
    epochs: int = field(default=20, metadata={"help": "training epochs"})
    max_minutes: float = field(default=0.0, metadata={"help": "stop training after this many minutes (0 = no limit)"})
    epoch_size: int = field(default=0, metadata={"help": "clips drawn per epoch (0 = dataset size)"})
    batch_size: int = field(default=32, metadata={"help": "batch size"})
    lr: float = field(default=2e-3, metadata={"help": "AdamW learning rate (one-cycle peak)"})
    weight_decay: float = field(default=1e-2, metadata={"help": "AdamW weight decay"})
    loss: str = field(default="bce", metadata={"help": "bce | focal | bce+family | focal+family"})
    pos_weight: bool = field(default=False, metadata={"help": "weight positives by negative/positive ratio in BCE"})
    label_smoothing: float = field(default=0.0, metadata={"help": "label smoothing towards 0.5"})
    balanced: bool = field(default=True, metadata={"help": "sample every label equally often"})
    # augmentation (its fields are top-level YAML keys and flags)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # aggregation and thresholds for the bundle
    aggregation: str = field(
        default="mean", metadata={"help": f"window aggregation stored in the bundle: {' | '.join(AGGREGATIONS)}"}
    )
    tune_thresholds: bool = field(default=True, metadata={"help": "tune per-label thresholds on the validation set"})
    # run
    out: str = field(default="model.iid", metadata={"help": "output bundle path; checkpoints go to <out>.ckpt/"})
    resume: bool = field(
        default=False,
        metadata={
            "help": "continue from <out>.ckpt/last.ckpt when it exists (same config and seed: the same weights as "
            "an uninterrupted run)"
        },
    )
    run_dir: str = field(default="runs", metadata={"help": "folder for logs and the resolved config"})
    seed: int = field(default=0, metadata={"help": "random seed (runs with the same seed repeat)"})
    accelerator: str = field(default="auto", metadata={"help": "Lightning accelerator: auto | cpu | gpu"})
    devices: str = field(default="auto", metadata={"help": "Lightning devices, e.g. 1, 4 or auto (DDP when > 1)"})
    num_workers: int = field(default=0, metadata={"help": "data loader worker processes"})
    fast_dev_run: bool = field(
        default=False, metadata={"help": "one batch of train and validation, to check the pipeline"}
    )
    progress: bool = field(default=True, metadata={"help": "progress bars"})
    recipe: str = field(default="", metadata={"help": "name of the recipe that produced this run (stored in metadata)"})

    def label_codes(self) -> tuple[str, ...]:
        """The model's labels (:func:`instrumentid.labels.parse_label_set` of ``labels``)."""
        try:
            return parse_label_set(self.labels)
        except ValueError as exc:
            raise ConfigError(f"the label set: {exc}", option="labels") from None

    def feature_config(self) -> dict:
        """The feature config: ``features`` for spectrogram models, else the model's own input.

        The mel flags (``n_fft``, ``hop_length``, ``n_mels``, ``fmin``, ``fmax``) apply to the
        mel-based front-ends (logmel, mfcc, multi); ``wavelet`` takes ``hop_length`` and the rest
        from ``feature_params``, which override any flag.
        """
        from instrumentid.frontends.core import ALIASES, FEATURES, feature_config
        from instrumentid.models import entry

        if not entry(self.model).trainable:
            raise ConfigError(
                f"model {self.model!r} is assembled from trained bundles, not trained "
                f"(see 'instrumentid {self.model} --help')"
            )
        own = entry(self.model).frontend
        name = ALIASES.get(self.features, self.features)
        if own != "logmel":  # raw waveform, or YAMNet's mel fixed by its pretrained weights
            if name != "logmel" or self.feature_params:
                raise ConfigError(
                    f"model {self.model!r} reads its own {own} input: a feature front-end and its parameters "
                    "do not apply",
                    option="features",
                )
            return feature_config(own, sample_rate=self.sample_rate)
        if name in ("yamnet", "waveform"):
            raise ConfigError(
                f"{name} is not a feature front-end for model {self.model!r}; choose logmel, mfcc, wavelet or multi",
                option="features",
            )
        fields = FEATURES[name][1].__dataclass_fields__ if name in FEATURES else {}
        shared = MEL_FIELDS if "n_mels" in fields else ("hop_length",)
        params = {**{key: getattr(self, key) for key in shared}, **self.feature_params}
        return feature_config(name, sample_rate=self.sample_rate, **params)

    def to_dict(self) -> dict:
        """The flat mapping YAML files and saved configs use (group fields at the top level)."""
        values: dict[str, Any] = {}
        for key, value in dataclasses.asdict(self).items():
            values.update(value if key in GROUPS else {key: value})
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        unknown = sorted(set(values) - {f.name for _, f in flat_fields()})
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
        group_of = _group_of()
        own = {key: value for key, value in values.items() if key not in group_of}
        groups = {
            group: kind(**{key: value for key, value in values.items() if group_of.get(key) == group})
            for group, kind in GROUPS.items()
        }
        return cls(**own, **groups)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        try:
            values = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: a config file is a mapping of field: value")
        return cls.from_dict(values)


def flat_fields() -> list[tuple[str | None, dataclasses.Field]]:
    """Every YAML key and flag of a TrainConfig, in order, with its group (None: TrainConfig's own)."""
    flat: list[tuple[str | None, dataclasses.Field]] = []
    for f in fields(TrainConfig):
        flat.extend([(f.name, inner) for inner in fields(GROUPS[f.name])] if f.name in GROUPS else [(None, f)])
    return flat


def _group_of() -> dict[str, str]:
    """Group field name → the TrainConfig field that holds it (``"mix_p"`` → ``"augment"``)."""
    return {f.name: group for group, f in flat_fields() if group is not None}


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per TrainConfig field (default None = keep the YAML/default value)."""
    defaults = TrainConfig().to_dict()
    for _, f in flat_fields():
        flag = "--" + f.name.replace("_", "-")
        default = defaults[f.name]
        help_text = f"{f.metadata.get('help', '')} (default: {default!r})"
        if isinstance(default, bool):
            parser.add_argument(flag, type=_bool, nargs="?", const=True, default=None, metavar="BOOL", help=help_text)
        elif isinstance(default, list):
            parser.add_argument(flag, action="append", default=None, metavar="PATH", help=help_text)
        elif isinstance(default, dict):
            parser.add_argument(flag, type=yaml.safe_load, default=None, metavar="YAML", help=help_text)
        else:
            parser.add_argument(flag, type=type(default), default=None, help=help_text)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """YAML file (``args.config``) first, then every flag given on the command line."""
    config = TrainConfig.from_yaml(args.config) if getattr(args, "config", None) else TrainConfig()
    given = {f.name: getattr(args, f.name) for _, f in flat_fields() if getattr(args, f.name, None) is not None}
    return TrainConfig.from_dict({**config.to_dict(), **given})

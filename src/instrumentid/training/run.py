"""``train(config)``: datasets → Lightning fit → best checkpoint → thresholds → bundle."""

from __future__ import annotations

import datetime as dt
import json
import sys
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import lightning as L
import numpy as np
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from instrumentid import __version__
from instrumentid.data.datasets import Example, read_dataset
from instrumentid.data.split import grouped_split
from instrumentid.errors import ConfigError, DataError
from instrumentid.frontends.core import build_frontend, compute_normalization, feature_shape
from instrumentid.inference.bundle import make_bundle, save_bundle
from instrumentid.inference.contract import Framing, takes_any_length
from instrumentid.inference.decision import clip_tuned
from instrumentid.models import build, entry, stored_params
from instrumentid.training.config import TrainConfig
from instrumentid.training.datamodule import InstrumentDataModule
from instrumentid.training.lightning_module import InstrumentModule, pos_weight_from
from instrumentid.training.resume import (
    AtomicCheckpointIO,
    ReseedEachBatch,
    checkpoint_dir,
    discard_if_empty,
    prepare_checkpoints,
)


def read_all(paths: Sequence[str]) -> list[Example]:
    examples: list[Example] = []
    for path in paths:
        examples.extend(read_dataset(path))
    return examples


def apply_overrides(examples: Sequence[Example], overrides_csv: str) -> list[Example]:
    """Replace the labels of examples listed in ``overrides_csv`` (matched by resolved path)."""
    from dataclasses import replace

    overrides = {e.path.resolve(): e.labels for e in read_dataset(overrides_csv)}
    updated = [replace(e, labels=overrides.get(e.path.resolve(), e.labels)) for e in examples]
    matched = sum(e.path.resolve() in overrides for e in examples)
    if overrides and not matched:
        raise DataError(f"{overrides_csv}: none of its {len(overrides)} files is in the training data")
    return updated


def model_params(config: TrainConfig, features: dict) -> dict:
    """Model parameters: the config's, plus the input geometry the registry entry declares.

    ``in_channels`` is only set when it is not 1 (every builder's default), so single-channel
    bundles keep the parameters they always stored.
    """
    params = {"n_labels": len(config.label_codes()), **config.model_params}
    if config.model == "yamnet" and "labels" not in params:
        params["labels"] = list(config.label_codes())  # its zero-shot heads map AudioSet classes to these codes
    takes = entry(config.model).geometry
    if features["name"] not in ("waveform", "yamnet"):
        channels, bins, frames = feature_shape(features, round(config.window_s * config.sample_rate))
        geometry = {"n_bins": bins, "n_mels": bins, "n_frames": frames}
        if channels != 1:
            if "in_channels" not in takes:
                raise ConfigError(
                    f"model {config.model!r} takes one input channel; the {features['name']} front-end gives "
                    f"{channels}",
                    option="features",
                )
            geometry["in_channels"] = channels
        params.update({k: v for k, v in geometry.items() if k in takes and k not in params})
    return params


def _max_time(minutes: float) -> dict | None:
    return {"minutes": minutes} if minutes and minutes > 0 else None


def _devices(value: str):
    return int(value) if value.isdigit() else value


def _split(config: TrainConfig) -> tuple[list[Example], list[Example]]:
    """Training and validation examples: ``val_data``, or a grouped split of ``data``."""
    examples = read_all(config.data)
    if config.label_overrides:
        examples = apply_overrides(examples, config.label_overrides)
    if config.val_data:
        train_examples, val_examples = examples, read_all(config.val_data)
    else:
        train_examples, val_examples = grouped_split(examples, val_fraction=config.val_fraction, seed=config.seed)
    if not val_examples:
        raise DataError(
            "the validation split is empty: give validation data or more training groups", option="val_data"
        )
    return train_examples, val_examples


def build_module(
    config: TrainConfig, features: dict, normalization: dict, pos_weight: torch.Tensor | None = None
) -> InstrumentModule:
    """The LightningModule of ``config`` around a fresh registry model.

    What depends on the training data (``normalization``, ``pos_weight``) comes in measured,
    so a config can be checked to build without any data.
    """
    model = build(config.model, **model_params(config, features))
    return InstrumentModule(
        model,
        features=features,
        normalization=normalization,
        labels=config.label_codes(),
        lr=config.lr,
        weight_decay=config.weight_decay,
        loss=config.loss,
        pos_weight=pos_weight,
        label_smoothing=config.label_smoothing,
        augment=config.augment,
        aggregation=config.aggregation,
    )


def _module(config: TrainConfig, features: dict, train_set) -> tuple[InstrumentModule, dict]:
    """The LightningModule and the normalisation measured on training crops."""
    if entry(config.model).normalize:
        sample = torch.stack([train_set[i][0] for i in range(min(len(train_set), 512))])
        normalization = compute_normalization(build_frontend(features).features, sample.split(64))
    else:  # pretrained weights expect the front-end's own scale
        normalization = {"mean": 0.0, "std": 1.0}
    pos_weight = pos_weight_from(train_set.targets) if config.pos_weight else None
    return build_module(config, features, normalization, pos_weight), normalization


def quiet_lightning() -> None:
    """Lightning's start-up notes (accelerators, tips and adverts, fast-dev-run notes) and the
    deprecation warnings of the libraries under it off: ``train --verbose`` leaves them on."""
    import logging

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for category in (DeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", message=r".*is deprecated")


def _trainer(config: TrainConfig, run_dir: Path, checkpoints: list[ModelCheckpoint]) -> L.Trainer:
    loggers = [CSVLogger(run_dir, name="logs")]
    try:
        import tensorboard  # noqa: F401
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(run_dir, name="tensorboard"))
    except ImportError:
        pass
    devices = _devices(config.devices)
    return L.Trainer(
        max_epochs=config.epochs,
        max_time=_max_time(config.max_minutes),
        accelerator=config.accelerator,
        devices=devices,
        strategy="ddp" if isinstance(devices, int) and devices > 1 else "auto",
        logger=loggers,
        callbacks=[*checkpoints, ReseedEachBatch(config.seed)],
        plugins=[AtomicCheckpointIO()],
        fast_dev_run=config.fast_dev_run,
        enable_progress_bar=config.progress,
        enable_model_summary=False,
        log_every_n_steps=10,
        deterministic="warn",
        num_sanity_val_steps=0,
    )


def train(config: TrainConfig) -> Path | None:
    """Train per ``config`` and write the bundle to ``config.out``; returns its path (None on DDP ranks > 0).

    Checkpoints go to ``<out>.ckpt/`` (see :mod:`instrumentid.training.resume`); with
    ``config.resume`` the run continues from its ``last.ckpt``.
    """
    if not config.data:
        raise ConfigError(
            "no training data: give a dataset (IRMAS folder, CSV or folder with labels.csv)", option="data"
        )
    L.seed_everything(config.seed, workers=True, verbose=False)
    train_examples, val_examples = _split(config)  # data problems stop the run before anything is written
    resume_from = prepare_checkpoints(config)
    try:
        return _fit(config, train_examples, val_examples, resume_from)
    finally:
        discard_if_empty(config)


def _fit(config: TrainConfig, train_examples, val_examples, resume_from: Path | None) -> Path | None:
    """Fit the model of ``config`` (continuing from ``resume_from``) and write its bundle."""
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))

    features = config.feature_config()
    datamodule = InstrumentDataModule(
        train_examples,
        val_examples,
        labels=config.label_codes(),
        framing=Framing(config.sample_rate, config.window_s, config.hop_s),
        batch_size=config.batch_size,
        balanced=config.balanced,
        epoch_size=config.epoch_size or None,
        num_workers=config.num_workers,
        progress=config.progress,
        seed=config.seed,
    )
    datamodule.setup()
    module, normalization = _module(config, features, datamodule.train_set)
    # validation windows as the predictor will cut them for this model's bundle
    datamodule.framing = replace(datamodule.framing, variable_length=takes_any_length(module.model))
    folder = checkpoint_dir(config.out)
    checkpoint = ModelCheckpoint(
        dirpath=folder,
        monitor="val/f1_macro",
        mode="max",
        save_top_k=1,
        filename="best-{epoch}",
        enable_version_counter=False,
    )
    # after the best one, so that last.ckpt records which checkpoint is best
    last = ModelCheckpoint(dirpath=folder, filename="last", save_top_k=1, enable_version_counter=False)
    trainer = _trainer(config, run_dir, [checkpoint, last])
    if resume_from is not None:
        print(f"resuming from {resume_from}", file=sys.stderr)
    with warnings.catch_warnings():  # the folder is ours: a fresh run empties it, a resumed one continues in it
        warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
    if not trainer.is_global_zero:  # DDP: rank 0 writes the bundle
        return None
    if checkpoint.best_model_path and not config.fast_dev_run:
        state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    return _write_bundle(
        config, module, features, normalization, train_examples, val_examples, best_score=checkpoint.best_model_score
    )


#: Validation macro ROC-AUC at or below this is chance level (a coin toss scores 0.5).
CHANCE_ROC_AUC = 0.55
#: When no label's score varies by this much across the validation files, the scores ignore the input.
FLAT_SCORE_SPREAD = 0.01


def untrained_warnings(y_score: np.ndarray, metrics: dict) -> list[str]:
    """Why a trained model looks untrained (empty when it does not).

    Two signs, either one enough: validation macro ROC-AUC (over labels with positives and
    negatives) at most :data:`CHANCE_ROC_AUC`, or scores that barely vary between validation
    files (every label's max - min below :data:`FLAT_SCORE_SPREAD`), as after a handful of steps.
    """
    reasons = []
    auc = metrics.get("roc_auc_macro")
    if auc is not None and auc <= CHANCE_ROC_AUC:
        reasons.append(f"validation macro ROC-AUC {auc:.3f} is no better than chance (<= {CHANCE_ROC_AUC})")
    if len(y_score) > 1:
        spread = float(np.ptp(y_score, axis=0).max())
        if spread < FLAT_SCORE_SPREAD:
            reasons.append(
                f"validation scores are all but equal for every file (largest spread {spread:.2g} "
                f"< {FLAT_SCORE_SPREAD})"
            )
    return [f"untrained: {reason}; its labels are guesses - train longer or check the data" for reason in reasons]


def _compact(metrics: dict) -> dict:
    """The headline and per-label validation numbers kept in the bundle's metadata."""
    keys = (
        "f1_micro",
        "f1_macro",
        "precision_macro",
        "recall_macro",
        "lrap",
        "mean_average_precision",
        "roc_auc_macro",
        "exact_match",
    )
    per_label = {
        code: {k: v[k] for k in ("f1", "precision", "recall", "roc_auc", "average_precision", "support")}
        for code, v in metrics["per_label"].items()
    }
    return {
        "files": metrics["n_samples"],
        **{k: metrics[k] for k in keys},
        "absent_labels": metrics["absent_labels"],
        "per_label": per_label,
    }


def _write_bundle(config, module, features, normalization, train_examples, val_examples, best_score) -> Path:
    from instrumentid.evaluation.evaluate import collect_scores
    from instrumentid.evaluation.metrics import compute_metrics
    from instrumentid.inference.predictor import Predictor

    model = module.model.cpu().eval()
    common = dict(
        model_name=config.model,
        model_params=stored_params(model, model_params(config, features)),
        state_dict=model.state_dict(),
        sample_rate=config.sample_rate,
        window_s=config.window_s,
        hop_s=config.hop_s,
        features=features,
        normalization=normalization,
        labels=config.label_codes(),
        aggregation=config.aggregation,
    )
    predictor = Predictor(make_bundle(**common))
    scored = collect_scores(predictor, val_examples, windows=False)  # file level, through the one predictor
    y_true, y_score = scored["y_true"], scored["y_score"]
    thresholds = np.full(len(config.label_codes()), 0.5, dtype=np.float32)
    if config.tune_thresholds:
        from instrumentid.evaluation.thresholds import tune_thresholds

        thresholds = clip_tuned(tune_thresholds(y_true, y_score))
    validation = compute_metrics(y_true, y_score, thresholds, config.label_codes())
    untrained = untrained_warnings(y_score, validation)
    for warning in untrained:
        print(f"warning: {config.out}: {warning}", file=sys.stderr)
    metadata = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "instrumentid_version": __version__,
        "torch_version": torch.__version__,
        "recipe": config.recipe or "instrumentid train",
        "train_data": [str(p) for p in config.data],
        "val_data": [str(p) for p in config.val_data] or f"grouped split of train_data ({config.val_fraction:.0%})",
        "train_files": len(train_examples),
        "val_files": len(val_examples),
        "best_val_f1_macro_at_0.5": float(best_score) if best_score is not None else None,
        "validation": _compact(validation),
        "thresholds_tuned_on": "validation set" if config.tune_thresholds else "fixed 0.5",
        "warnings": untrained,
        "config": json.loads(json.dumps(config.to_dict())),
    }
    bundle = make_bundle(**common, thresholds=thresholds, metadata=metadata)
    out = save_bundle(bundle, config.out)
    (Path(config.run_dir) / "validation.json").write_text(json.dumps(metadata["validation"], indent=2))
    return out

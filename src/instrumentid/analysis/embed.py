"""Embeddings of a dataset: TensorBoard projector export and t-SNE / PCA plots.

The embedding of a file is ``model.embed`` (the vector before the classification head)
averaged over the file's analysis windows. ``export_projector`` writes what the TensorBoard
projector reads (``tensors.tsv``, ``metadata.tsv``, ``projector_config.pbtxt``): run
``tensorboard --logdir OUT`` and open the *Projector* tab, or upload the two TSV files to
https://projector.tensorflow.org.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from instrumentid.errors import InstrumentIdError


def file_embedding(predictor, path, *, top_label: bool = False):
    """Mean over windows of ``predictor.model.embed`` for one file, ``(embedding_dim,)``; with
    ``top_label``, ``(embedding, code)`` where ``code`` is the file's top-scoring label (the head
    runs on the same windows, so the file is decoded once)."""
    import torch

    from instrumentid.inference.windows import aggregate

    features = predictor.window_features(path).to(predictor.device)
    with torch.inference_mode():
        vector = predictor.model.embed(features).mean(dim=0).cpu().numpy().astype(np.float64)
        if not top_label:
            return vector
        scores = torch.sigmoid(predictor.model(features)).cpu().numpy()
    return vector, predictor.labels[int(np.argmax(aggregate(scores, predictor.aggregation)))]


def compute_embeddings(predictor, examples: Sequence, *, progress: bool = False) -> tuple[np.ndarray, list, list]:
    """``(embeddings (n_ok, dim), ok_examples, errors)`` for labelled examples."""
    from instrumentid.data.per_file import map_files

    vectors, kept, errors = map_files(
        examples, lambda path: file_embedding(predictor, path), desc="embed", progress=progress
    )
    return _stack(vectors, errors), kept, errors


def embed_unlabelled(predictor, examples: Sequence, *, progress: bool = False) -> tuple[np.ndarray, list, list, list]:
    """:func:`compute_embeddings` for unlabelled files, plus each kept file's top-scoring label."""
    from instrumentid.data.per_file import map_files

    pairs, kept, errors = map_files(
        examples, lambda path: file_embedding(predictor, path, top_label=True), desc="embed", progress=progress
    )
    return _stack([vector for vector, _ in pairs], errors), kept, errors, [code for _, code in pairs]


def _stack(vectors: list, errors: list) -> np.ndarray:
    if not vectors:
        raise InstrumentIdError(f"no file could be embedded (first error: {errors[0]['error'] if errors else '-'})")
    return np.stack(vectors)


def colour_categories(examples: Sequence, predicted: Sequence[str] = ()) -> list[str]:
    """One category per example for colouring: its label if single, ``multiple`` or ``none``;
    ``gac (predicted)`` when the files are unlabelled and ``predicted`` holds their top labels."""
    if predicted:
        return [f"{code} (predicted)" for code in predicted]
    return [e.labels[0] if len(e.labels) == 1 else ("none" if not e.labels else "multiple") for e in examples]


def unlabelled_examples(folder) -> list:
    """Every audio file under ``folder`` (recursively) as an example without labels: a plain library."""
    from instrumentid.data.datasets import Example
    from instrumentid.inference.predictor import iter_audio_files

    folder = Path(folder)
    return [
        Example(p, (), str(p.relative_to(folder).with_suffix("")), None)
        for p in iter_audio_files([folder], recursive=True)
    ]


def dataset_or_folder(data, labels_file=None) -> tuple[list, bool]:
    """``(examples, labelled)``: a dataset of any layout, else any folder of audio, unlabelled."""
    from instrumentid.data.datasets import load_examples
    from instrumentid.errors import DataError

    try:
        return load_examples(data, labels_file=labels_file), True
    except DataError:
        if labels_file is not None or not Path(data).is_dir():
            raise
    examples = unlabelled_examples(data)
    if not examples:
        raise DataError(f"{data}: no audio files in this folder or below it")
    return examples, False


def _tsv(value) -> str:
    return str(value).replace("\t", " ").replace("\n", " ")


def export_projector(
    out_dir: str | os.PathLike,
    embeddings: np.ndarray,
    examples: Sequence,
    *,
    tensor_name: str = "instrumentid",
    categories: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Write ``tensors.tsv`` (one row per file), ``metadata.tsv`` (header + one row per file:
    file, labels, instrument (``categories``, default :func:`colour_categories`), genre, group)
    and ``projector_config.pbtxt`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = out_dir / "tensors.tsv"
    np.savetxt(tensors, np.asarray(embeddings), delimiter="\t", fmt="%.6g")
    metadata = out_dir / "metadata.tsv"
    categories = colour_categories(examples) if categories is None else categories
    with metadata.open("w", encoding="utf-8") as handle:
        handle.write("file\tlabels\tinstrument\tgenre\tgroup\n")
        for example, category in zip(examples, categories, strict=True):
            handle.write(
                "\t".join(
                    _tsv(v)
                    for v in (
                        Path(example.path).name,
                        ";".join(example.labels) or "none",
                        category,
                        example.genre or "",
                        example.group,
                    )
                )
                + "\n"
            )
    config = out_dir / "projector_config.pbtxt"
    config.write_text(
        f'embeddings {{\n  tensor_name: "{tensor_name}"\n  tensor_path: "tensors.tsv"\n'
        f'  metadata_path: "metadata.tsv"\n}}\n',
        encoding="utf-8",
    )
    return {"tensors": tensors, "metadata": metadata, "config": config}


def pca(X: np.ndarray, *, n_components: int = 20, standardize: bool = False, seed: int = 0):
    """Fitted ``sklearn.decomposition.PCA`` and the projected points."""
    from sklearn.decomposition import PCA

    X = np.asarray(X, dtype=np.float64)
    if standardize:
        X = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    model = PCA(n_components=min(n_components, *X.shape), random_state=seed)
    return model, model.fit_transform(X)


def tsne(X: np.ndarray, *, standardize: bool = False, seed: int = 0) -> np.ndarray:
    """2-D t-SNE of ``X`` (perplexity adapted to small sets: ``min(30, (n - 1) / 3)``)."""
    from sklearn.manifold import TSNE

    X = np.asarray(X, dtype=np.float64)
    if standardize:
        X = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    perplexity = float(max(1.0, min(30.0, (len(X) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(X)


def reduce_and_plot(
    X: np.ndarray,
    categories: Sequence[str],
    out_dir,
    *,
    prefix: str = "",
    standardize: bool = False,
    with_tsne: bool = True,
    seed: int = 0,
) -> dict[str, Path]:
    """PCA scatter, PCA explained-variance bars and (optionally) a t-SNE scatter as PNGs."""
    from instrumentid.evaluation import plots as P

    out_dir = Path(out_dir)
    model, points = pca(X, standardize=standardize, seed=seed)
    ratio = model.explained_variance_ratio_
    if points.shape[1] < 2:
        points = np.pad(points, ((0, 0), (0, 2 - points.shape[1])))
        ratio = np.pad(ratio, (0, 2 - len(ratio)))
    paths = {
        "pca": P.embedding_scatter(
            points[:, :2],
            categories,
            out_dir / f"{prefix}pca.png",
            title="PCA",
            axis_labels=(f"PC1 ({ratio[0]:.1%} of variance)", f"PC2 ({ratio[1]:.1%} of variance)"),
        ),
        "pca_variance": P.explained_variance(model.explained_variance_ratio_, out_dir / f"{prefix}pca_variance.png"),
    }
    if with_tsne and len(X) >= 4:
        paths["tsne"] = P.embedding_scatter(
            tsne(X, standardize=standardize, seed=seed),
            categories,
            out_dir / f"{prefix}tsne.png",
            title="t-SNE",
            axis_labels=("t-SNE 1", "t-SNE 2"),
        )
    return paths


def embed_dataset(data, model, out, *, labels_file=None, with_tsne: bool = True, progress: bool = False) -> dict:
    """Embed every file of ``data`` with bundle ``model``; write projector files and plots to ``out``.

    ``data`` is a dataset (coloured by its labels) or any folder of audio (coloured by each
    file's predicted top label).

    Returns ``{"n_files", "dim", "errors", "files": {name: path}, "explained_variance": [...],
    "labelled"}``;
    ``embeddings.npy`` holds the raw matrix.
    """
    from instrumentid.inference.predictor import Predictor

    predictor = Predictor.from_bundle(model, runtime="torch")
    examples, labelled = dataset_or_folder(data, labels_file)
    if labelled:
        (embeddings, kept, errors), predicted = compute_embeddings(predictor, examples, progress=progress), []
    else:
        embeddings, kept, errors, predicted = embed_unlabelled(predictor, examples, progress=progress)
    categories = colour_categories(kept, predicted)
    out = Path(out)
    files = export_projector(out, embeddings, kept, categories=categories)
    np.save(out / "embeddings.npy", embeddings)
    files["npy"] = out / "embeddings.npy"
    if len(kept) >= 2:
        files.update(reduce_and_plot(embeddings, categories, out, with_tsne=with_tsne))
    variance = pca(embeddings)[0].explained_variance_ratio_.tolist() if len(kept) >= 2 else []
    return {
        "n_files": len(kept),
        "dim": int(embeddings.shape[1]),
        "errors": errors,
        "files": files,
        "explained_variance": variance,
        "labelled": labelled,
    }

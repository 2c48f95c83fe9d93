"""Analysis tools (the ``analysis`` extra: matplotlib, cleanlab, iterative-stratification, librosa).

One module per tool, each importing its heavy dependencies lazily:

* :mod:`~instrumentid.analysis.embed` -- embeddings, TensorBoard projector export, t-SNE / PCA
* :mod:`~instrumentid.analysis.gradcam` -- Grad-CAM heat maps over the spectrogram
* :mod:`~instrumentid.analysis.label_issues` -- cleanlab suspect labels and override CSVs
* :mod:`~instrumentid.analysis.classical_features` / :mod:`~instrumentid.analysis.classical`
  -- hand-crafted features and the one-SVM-per-instrument baseline
* :mod:`~instrumentid.analysis.statistics` -- label distribution of datasets
* :mod:`~instrumentid.analysis.timing` -- prediction time vs audio duration
"""

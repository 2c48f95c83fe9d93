"""Inference: everything that turns audio into records with a trained model, and nothing that trains.

- :mod:`~instrumentid.inference.contract` — how a model reads audio (the typed bundle description)
- :mod:`~instrumentid.inference.bundle` — the bundle file format; :mod:`~instrumentid.inference.shipped`
  — the models shipped inside the package, by name
- :mod:`~instrumentid.inference.runtimes` — onnxruntime for exported graphs (every bundled name by
  default), PyTorch for bundles
- :mod:`~instrumentid.inference.predictor` — the one predictor (``Predictor``), torch-free
- :mod:`~instrumentid.inference.windows`, :mod:`~instrumentid.inference.decision` — windowing and
  aggregation; the presence rule and threshold ranges
- :mod:`~instrumentid.inference.schema` — the record (public: its JSON, CSV, table forms);
  :mod:`~instrumentid.inference.sinks` — where records go
- :mod:`~instrumentid.inference.export` — bundle → ONNX graph; :mod:`~instrumentid.inference.ray_engine`
  — corpus-scale prediction on Ray

Importing this package imports nothing heavy; each module imports torch only where it must.
"""

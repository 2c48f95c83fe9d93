"""Datasets: readers for IRMAS folders and CSVs, the grouped split, the per-file loop, the training data module."""

from instrumentid.data.datasets import Example, read_dataset

__all__ = ["Example", "read_dataset"]

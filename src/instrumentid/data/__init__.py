"""Datasets: readers for IRMAS folders and CSVs, training data module, mixing."""

from instrumentid.data.datasets import Example, read_dataset

__all__ = ["Example", "read_dataset"]

"""The grouped train/validation split lives in :mod:`instrumentid.data.split`; ``grouped_split``
stays importable from here for code that imports it by this path."""

from instrumentid.data.split import grouped_split

__all__ = ["grouped_split"]

import numpy as np
import pytest

from instrumentid import labels


def test_irmas_order_and_names():
    assert labels.LABELS == ("cel", "cla", "flu", "gac", "gel", "org", "pia", "sax", "tru", "vio", "voi")
    assert set(labels.NAMES) == set(labels.LABELS) == set(labels.FAMILIES)
    assert set(labels.FAMILIES.values()) == set(labels.FAMILY_NAMES)
    assert set(labels.GENRES) == {"cla", "cou_fol", "jaz_blu", "lat_sou", "pop_roc"}


def test_encode_is_multi_hot_in_label_order():
    vector = labels.encode(["voi", "gac"])
    assert vector.dtype == np.float32 and vector.sum() == 2
    assert [code for code, v in zip(labels.LABELS, vector) if v] == ["gac", "voi"]


def test_unknown_code_names_it():
    with pytest.raises(ValueError, match="'drums'"):
        labels.encode(["drums"])
    with pytest.raises(ValueError, match="'xyz'"):
        labels.index("xyz")


def test_family_matrix_maps_every_label_once():
    matrix = labels.family_matrix()
    assert matrix.shape == (len(labels.FAMILY_NAMES), len(labels.LABELS))
    assert (matrix.sum(0) == 1).all()
    assert matrix[labels.FAMILY_NAMES.index("strings"), labels.index("vio")] == 1

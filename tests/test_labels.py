import numpy as np
import pytest

from instrumentid import labels


def test_irmas_order_and_names():
    assert labels.LABELS == ("cel", "cla", "flu", "gac", "gel", "org", "pia", "sax", "tru", "vio", "voi")
    assert set(labels.LABELS) <= set(labels.NAMES)
    assert set(labels.NAMES) == set(labels.VOCABULARY) == set(labels.FAMILIES) == set(labels.BY_CODE)
    assert set(labels.FAMILIES.values()) == set(labels.FAMILY_NAMES)
    assert set(labels.GENRES) == {"cla", "cou_fol", "jaz_blu", "lat_sou", "pop_roc"}


def test_encode_is_multi_hot_in_label_order():
    vector = labels.encode(["voi", "gac"])
    assert vector.dtype == np.float32 and vector.sum() == 2
    assert [code for code, v in zip(labels.LABELS, vector, strict=True) if v] == ["gac", "voi"]


def test_unknown_code_names_it():
    with pytest.raises(ValueError, match="'drums'"):
        labels.encode(["drums"])
    with pytest.raises(ValueError, match="'xyz'"):
        labels.index("xyz")


def test_family_matrix_maps_every_label_once():
    matrix = labels.family_matrix()
    assert matrix.shape == (len(labels.families_of(labels.LABELS)), len(labels.LABELS)) == (6, 11)
    assert labels.family_matrix(labels.VOCABULARY).shape == (len(labels.FAMILY_NAMES), len(labels.VOCABULARY))
    assert (matrix.sum(0) == 1).all()
    assert matrix[labels.FAMILY_NAMES.index("strings"), labels.index("vio")] == 1


def test_vocabulary_is_irmas_then_the_extended_codes():
    assert labels.VOCABULARY[:11] == labels.LABELS and len(labels.VOCABULARY) == 33
    assert len(set(labels.VOCABULARY)) == 33
    for code in (
        "bas",
        "dbl",
        "dru",
        "mal",
        "syn",
        "epi",
        "hpd",
        "hrp",
        "bjo",
        "man",
        "uke",
        "sit",
        "acc",
        "hmc",
        "tbn",
        "hrn",
        "tba",
        "obo",
        "bsn",
        "bgp",
        "tab",
        "stp",
    ):
        instrument = labels.BY_CODE[code]
        assert code in labels.EXTENDED and instrument.name and instrument.audioset
        assert all(0 <= index < 521 for index, _ in instrument.audioset)


def test_encode_leaves_out_codes_the_label_set_lacks_and_refuses_unknown_ones():
    assert labels.encode(["gac", "dru"]).sum() == 1  # an 11-label model sees gac
    assert labels.encode(["gac", "dru"], labels.VOCABULARY).sum() == 2
    with pytest.raises(ValueError, match="'drums'"):
        labels.encode(["drums"], labels.VOCABULARY)


def test_label_sets_parse_by_name_or_codes():
    assert labels.parse_label_set("irmas") == labels.LABELS
    assert labels.parse_label_set("dru, gac") == ("gac", "dru")  # vocabulary order
    with pytest.raises(ValueError, match="zzz"):
        labels.parse_label_set("gac,zzz")
    with pytest.raises(ValueError, match="empty"):
        labels.parse_label_set(" , ")

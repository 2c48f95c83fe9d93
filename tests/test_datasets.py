import pytest

from helpers import write_tone
from instrumentid.data.datasets import detect_layout, parse_irmas_train_name, read_dataset
from instrumentid.errors import DataError
from instrumentid.labels import LABELS


@pytest.mark.parametrize(
    "name,code,genre,group",
    [
        ("[cel][cla]0001__1.wav", "cel", "cla", "cel/[cel][cla]0001"),
        ("[gel][dru][pop_roc]0829__2.wav", "gel", "pop_roc", "gel/[gel][dru][pop_roc]0829"),
        ("[voi][nod][jaz_blu]2394__3.wav", "voi", "jaz_blu", "voi/[voi][nod][jaz_blu]2394"),
        ("[sax][jaz_blu]1737__1.wav", "sax", "jaz_blu", "sax/[sax][jaz_blu]1737"),
    ],
)
def test_irmas_training_names(tmp_path, name, code, genre, group):
    path = tmp_path / code / name
    assert parse_irmas_train_name(path) == (code, genre, group)


def test_irmas_training_folder(tmp_path):
    root = tmp_path / "IRMAS-TrainingData"
    for name in ("[cel][cla]0001__1.wav", "[cel][cla]0001__2.wav", "[cel][cla]0002__1.wav"):
        write_tone(root / "cel" / name, seconds=0.1)
    write_tone(root / "gel" / "[gel][dru][pop_roc]0829__2.wav", seconds=0.1)
    examples = read_dataset(root)
    assert detect_layout(root) == "irmas-train"
    assert [e.labels for e in examples] == [("cel",)] * 3 + [("gel",)]
    assert len({e.group for e in examples}) == 3  # __1/__2 of one recording share a group


def test_irmas_training_folder_disagreement(tmp_path):
    write_tone(tmp_path / "cel" / "[vio][cla]0001__1.wav", seconds=0.1)
    with pytest.raises(DataError, match="disagrees with its folder"):
        read_dataset(tmp_path)


def test_irmas_testing_folder(tmp_path):
    root = tmp_path / "IRMAS-TestingData-Part1" / "Part1"
    for n in (1, 2):
        write_tone(root / f"(02) dont kill the whale-{n}.wav", seconds=0.1)
        (root / f"(02) dont kill the whale-{n}.txt").write_text("voi\t\ngel\t\n")
    write_tone(root / "Über [live]-1.wav", seconds=0.1)
    (root / "Über [live]-1.txt").write_text("pia\n")
    examples = read_dataset(tmp_path)
    assert detect_layout(tmp_path) == "irmas-test"
    by_name = {e.path.name: e for e in examples}
    assert by_name["(02) dont kill the whale-1.wav"].labels == ("gel", "voi")
    assert by_name["(02) dont kill the whale-1.wav"].group == by_name["(02) dont kill the whale-2.wav"].group
    assert by_name["Über [live]-1.wav"].labels == ("pia",)


def test_irmas_testing_missing_or_bad_label_file(tmp_path):
    write_tone(tmp_path / "song-1.wav", seconds=0.1)
    (tmp_path / "other-1.txt").write_text("pia\n")
    with pytest.raises(DataError, match="no label file song-1.txt"):
        read_dataset(tmp_path)
    (tmp_path / "song-1.txt").write_text("drums\n")
    with pytest.raises(DataError, match="unknown instrument code"):
        read_dataset(tmp_path)


def test_csv_with_label_columns_and_with_joined_labels(tmp_path):
    write_tone(tmp_path / "clips" / "a.wav", seconds=0.1)
    (tmp_path / "one-hot.csv").write_text(
        "file,cel,cla,flu,gac,gel,org,pia,sax,tru,vio,voi\nclips/a.wav,0,0,0,1,0,0,0,0,0,0,1\n"
    )
    (tmp_path / "joined.csv").write_text("path,labels\nclips/a.wav,voi;gac\nclips/b.wav,\n")
    assert read_dataset(tmp_path / "one-hot.csv")[0].labels == ("gac", "voi")
    joined = read_dataset(tmp_path / "joined.csv")
    assert joined[0].labels == ("gac", "voi") and joined[1].labels == ()
    assert joined[0].path == tmp_path / "clips" / "a.wav"


def test_folder_with_labels_file(tmp_path):
    (tmp_path / "labels.csv").write_text("path,labels\nx.wav,pia\n")
    assert detect_layout(tmp_path) == "folder-csv"
    assert read_dataset(tmp_path)[0].path == tmp_path / "x.wav"
    other = tmp_path / "elsewhere.csv"
    other.write_text("file,labels\ny.wav,flu\n")
    assert read_dataset(tmp_path / "sub", labels_file=other)[0].path == tmp_path / "sub" / "y.wav"


@pytest.mark.parametrize(
    "content,match",
    [
        ("name,x\na,1\n", "needs a 'file'"),
        ("file,x\na,1\n", "needs a 'labels' column"),
        ("file,labels\na,piano\n", "unknown instrument code"),
        ("file,pia\na,yes\n", "0 or 1"),
        ("", "no rows"),
    ],
)
def test_bad_csvs(tmp_path, content, match):
    (tmp_path / "d.csv").write_text(content)
    with pytest.raises(DataError, match=match):
        read_dataset(tmp_path / "d.csv")


def test_unknown_layout(tmp_path):
    write_tone(tmp_path / "x.wav", seconds=0.1)
    with pytest.raises(DataError, match="unknown dataset layout"):
        read_dataset(tmp_path)
    with pytest.raises(DataError, match="not found"):
        read_dataset(tmp_path / "nope")


def test_write_csv_round_trips(tmp_path):
    from instrumentid.data.datasets import Example, write_csv

    examples = [
        Example(tmp_path / "a b.wav", ("gac", "voi"), "song-a", "pop_roc", 3.0),
        Example(tmp_path / "c.wav", (), "c"),
    ]
    back = read_dataset(write_csv(examples, tmp_path / "out" / "x.csv"))
    assert back == examples


def test_weights_balance_labels_and_favour_weighted_examples():
    import numpy as np

    from instrumentid.training.datamodule import balanced_weights

    targets = np.zeros((5, 11), np.float32)
    targets[:3, 0] = 1  # three cello clips
    targets[3, 1] = 1  # one clarinet clip; example 4 has no label
    w = balanced_weights(targets, np.array([1.0, 1.0, 2.0, 1.0, 1.0]))
    np.testing.assert_allclose([w[:3].sum(), w[3], w[4]], [1.0, 1.0, 1.0])
    assert w[2] == 2 * w[0]


def test_bad_weight_column(tmp_path):
    (tmp_path / "w.csv").write_text("file,labels,weight\na.wav,pia,-1\n")
    with pytest.raises(DataError, match="weight must be positive"):
        read_dataset(tmp_path / "w.csv")


def test_label_matrix_follows_the_given_label_order(tmp_path):
    import numpy as np

    from instrumentid.data.datasets import Example, label_matrix

    examples = [Example(tmp_path / "a.wav", ("voi", "gac"), "a"), Example(tmp_path / "b.wav", (), "b")]
    y = label_matrix(examples, ["voi", "pia", "gac"])
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, [[1, 0, 1], [0, 0, 0]])
    assert label_matrix([], ["voi", "pia"]).shape == (0, 2)
    # a vocabulary code the label set lacks is left out (an 11-label model trains on a band mix's IRMAS labels)
    np.testing.assert_array_equal(label_matrix(examples, ["voi", "pia"]), [[1, 0], [0, 0]])
    odd = [Example(tmp_path / "c.wav", ("gac", "kazoo"), "c")]
    with pytest.raises(DataError, match=r"c\.wav: unknown instrument code 'kazoo'.*the model knows voi, pia"):
        label_matrix(odd, ["voi", "pia"])


def test_load_examples_reads_paths_and_refuses_an_empty_dataset(tmp_path):
    from instrumentid.data.datasets import Example, load_examples

    (tmp_path / "d.csv").write_text("file,labels\na.wav,pia\n")
    assert [e.labels for e in load_examples(tmp_path / "d.csv")] == [("pia",)]
    given = [Example(tmp_path / "a.wav", ("pia",), "a")]
    assert load_examples(iter(given)) == given
    with pytest.raises(DataError, match="the dataset has no files"):
        load_examples([])


def test_crop_sampler_depends_on_seed_and_epoch_alone():
    """What an epoch draws (clips and crop positions) repeats from (seed, epoch): a resumed run sees the same epochs."""
    import numpy as np

    from instrumentid.training.datamodule import CropSampler

    weights = np.array([1.0, 1.0, 2.0, 4.0])
    first = list(CropSampler(4, 10, weights=weights, seed=3, epoch=2))
    again = CropSampler(4, 10, weights=weights, seed=3)
    again.set_epoch(2)
    assert list(again) == first and len(first) == 10
    again.set_epoch(3)
    assert list(again) != first
    assert all(0 <= index < 4 and 0.0 <= position < 1.0 for index, position in first)
    uniform = [index for index, _ in CropSampler(4, 10, seed=3)]  # shuffled passes: every clip before any repeats
    assert sorted(uniform[:4]) == sorted(uniform[4:8]) == [0, 1, 2, 3] and len(uniform) == 10


@pytest.mark.parametrize("balanced", [True, False])
def test_epoch_size_sets_the_clips_per_epoch_with_and_without_balancing(tmp_path, balanced):
    from instrumentid.data.datasets import Example
    from instrumentid.labels import LABELS
    from instrumentid.training.datamodule import InstrumentDataModule

    examples = [
        Example(write_tone(tmp_path / f"{code}.wav", 220.0 + 50 * i, 0.5), (code,), code)
        for i, code in enumerate(LABELS[:4])
    ]
    from instrumentid.inference.contract import Framing

    module = InstrumentDataModule(
        examples,
        [],
        labels=LABELS,
        framing=Framing(16_000, 0.25, 0.25),
        batch_size=5,
        balanced=balanced,
        epoch_size=30,
        progress=False,
    )
    module.setup()
    batches = list(module.train_dataloader())
    assert sum(len(targets) for _, targets in batches) == 30
    assert all(waveform.shape == (5, 4000) for waveform, _ in batches)


def test_extended_codes_round_trip_through_the_csv(tmp_path):
    from instrumentid.data.datasets import Example, read_dataset, write_csv

    examples = [
        Example(tmp_path / "mix.wav", ("gel", "voi", "bas", "dru"), "song"),
        Example(tmp_path / "solo.wav", ("sit",), "raga"),
    ]
    path = write_csv(examples, tmp_path / "data.csv")
    header = path.read_text().splitlines()[0].split(",")
    assert header[1:12] == list(LABELS) and header[12:15] == ["bas", "dru", "sit"]
    assert [e.labels for e in read_dataset(path)] == [("gel", "voi", "bas", "dru"), ("sit",)]

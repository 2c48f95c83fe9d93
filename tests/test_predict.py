import numpy as np
import pytest
import soundfile as sf

from helpers import write_tone
from instrumentid.errors import AudioError, ConfigError
from instrumentid.inference.predictor import Predictor, find_audio_files
from instrumentid.inference.windows import aggregate, iter_windows, tile


def _starts(n_samples, window, hop, block=7):
    signal = np.arange(n_samples, dtype=np.float32)
    blocks = [signal[i : i + block] for i in range(0, n_samples, block)]
    return [(s, w) for s, w in iter_windows(blocks, window, hop)]


def test_short_input_is_tiled_not_zero_padded():
    ((start, window),) = _starts(5, 12, 12)
    assert start == 0 and window.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    assert tile(np.zeros(0, np.float32), 3).tolist() == [0, 0, 0]


def test_exactly_one_window():
    windows = _starts(12, 12, 12)
    assert [s for s, _ in windows] == [0] and windows[0][1].tolist() == list(range(12))


def test_tail_gets_an_end_aligned_window():
    windows = _starts(30, 12, 12)
    assert [s for s, _ in windows] == [0, 12, 18]
    assert windows[-1][1].tolist() == list(range(18, 30))


def test_overlapping_hops_and_block_boundaries():
    for block in (1, 5, 12, 100):
        windows = _starts(40, 12, 4, block)
        assert [s for s, _ in windows] == [0, 4, 8, 12, 16, 20, 24, 28]
        for start, window in windows:
            assert window.tolist() == list(range(start, start + 12))


def test_aggregation():
    scores = np.array([[0.1, 0.9], [0.3, 0.1], [0.2, 0.2], [0.0, 0.4]], np.float32)
    np.testing.assert_allclose(aggregate(scores, "mean"), [0.15, 0.4])
    np.testing.assert_allclose(aggregate(scores, "max"), [0.3, 0.9])
    np.testing.assert_allclose(aggregate(scores, "topk"), [0.3, 0.9])  # top quarter = 1 window
    with pytest.raises(ConfigError, match="unknown aggregation"):
        aggregate(scores, "median")


def test_record_follows_the_contract(tiny_bundle, tmp_path):
    predictor = Predictor.from_bundle(tiny_bundle)
    path = write_tone(tmp_path / "a.wav", 440, 2.5, 44_100, channels=2)
    record = predictor.predict_file(path, segments=True)
    assert set(record) == {"file", "duration_s", "scores", "present", "activity", "segments"}
    assert record["duration_s"] == 2.5 and list(record["scores"]) == list(predictor.labels)
    assert all(0 <= v <= 1 for v in record["scores"].values())
    assert [(s["start_s"], s["end_s"]) for s in record["segments"]] == [(0.0, 1.0), (1.0, 2.0), (1.5, 2.5)]
    expected = [
        c for c in predictor.labels if record["scores"][c] >= predictor.thresholds[predictor.labels.index(c)] - 1e-4
    ]
    assert record["present"] == expected
    assert predictor.predict_file(path, threshold=0.0)["present"] == list(predictor.labels)
    assert predictor.predict_file(path, threshold=1.0)["present"] == []


def test_file_scores_are_the_aggregated_window_scores(tiny_bundle, tmp_path):
    predictor = Predictor.from_bundle(tiny_bundle)
    path = write_tone(tmp_path / "a.flac", 330, 4.2, 22_050)
    starts, scores = predictor.window_scores(path)
    record = predictor.predict_file(path, aggregation="max")
    np.testing.assert_allclose(list(record["scores"].values()), scores.max(0), atol=1e-4)
    assert len(starts) == 5


def test_half_second_file_and_waveform_api(tiny_bundle, tmp_path):
    predictor = Predictor.from_bundle(tiny_bundle)
    path = write_tone(tmp_path / "short.wav", 440, 0.5, 16_000)
    record = predictor.predict_file(path, segments=True)
    assert record["duration_s"] == 0.5 and record["segments"][0]["end_s"] == 0.5
    waveform, _ = sf.read(path, dtype="float32")
    from_memory = predictor.predict_waveform(waveform, 16_000, name="short.wav")
    assert from_memory["scores"] == pytest.approx(record["scores"], abs=1e-3)


def test_half_second_file_is_flagged_short(tiny_bundle, tmp_path):
    record = Predictor.from_bundle(tiny_bundle).predict_file(write_tone(tmp_path / "short.wav", 440, 0.5, 16_000))
    assert record["warnings"] == ["short"]


def test_silence_names_no_instrument_whatever_the_threshold(tiny_bundle, tmp_path):
    sf.write(tmp_path / "zeros.wav", np.zeros(32_000, np.float32), 16_000)
    quiet = write_tone(
        tmp_path / "quiet.wav", 440, 2.0, 16_000, amplitude=10 ** (-90 / 20)
    )  # -93 dBFS RMS: below the floor
    predictor = Predictor.from_bundle(tiny_bundle)
    for path, warning in ((tmp_path / "zeros.wav", "all-silent"), (quiet, "near-silent")):
        record = predictor.predict_file(path, threshold=0.0, segments=True)
        assert record["warnings"] == [warning]
        assert record["present"] == [] and all(s["present"] == [] for s in record["segments"])
        assert set(record["scores"]) == set(predictor.labels)  # scores are still reported


def test_audio_below_the_minimum_length_is_an_error_naming_it(tiny_bundle, tmp_path):
    from instrumentid.errors import AudioError

    predictor = Predictor.from_bundle(tiny_bundle)
    blip = write_tone(tmp_path / "blip.wav", 440, 0.05, 16_000)
    with pytest.raises(AudioError, match=r"blip.wav: audio is 0.050 s long; this model needs at least 0.1 s"):
        predictor.predict_file(blip)
    record = next(predictor.predict_files([blip]))
    assert "0.050 s long" in record["error"]


def test_fully_convolutional_model_scores_short_audio_at_its_own_length(tmp_path):
    """YAMNet-style models are not fed a tiled copy: the scores are those of the 0.5-s audio alone."""
    import torch

    from instrumentid.frontends.core import YamnetLogMel, feature_config
    from instrumentid.inference.bundle import make_bundle
    from instrumentid.models import build

    torch.manual_seed(0)
    model = build("yamnet", head="linear", pooling="max").eval()
    bundle = make_bundle(
        model_name="yamnet",
        model_params={"head": "linear", "pooling": "max"},
        state_dict=model.state_dict(),
        sample_rate=16_000,
        window_s=3.0,
        hop_s=3.0,
        features=feature_config("yamnet"),
        normalization={"mean": 0.0, "std": 1.0},
        aggregation="max",
    )
    path = write_tone(tmp_path / "short.wav", 440, 0.5, 16_000)
    record = Predictor(bundle).predict_file(path)
    with torch.inference_mode():
        expected = torch.sigmoid(model(YamnetLogMel()(torch.from_numpy(sf.read(path, dtype="float32")[0]))))[0]
    assert list(record["scores"].values()) == pytest.approx(expected.tolist(), abs=1e-4)


def test_one_hour_file_is_streamed(tiny_bundle, tmp_path, monkeypatch):
    """A 1 h file: 3600 windows, read in blocks (never decoded whole)."""
    path = tmp_path / "hour.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=8_000, channels=1, subtype="PCM_16") as handle:
        for _ in range(60):
            handle.write((0.1 * rng.standard_normal(8_000 * 60)).astype(np.float32))
    predictor = Predictor.from_bundle(tiny_bundle, batch_size=256)
    import instrumentid.audio as audio_module

    biggest = []
    original = audio_module.stream

    def spy(*args, **kwargs):
        for block in original(*args, **kwargs):
            biggest.append(block.size)
            yield block

    monkeypatch.setattr(audio_module, "stream", spy)
    starts, scores = predictor.window_scores(path)
    assert scores.shape == (3600, 11) and starts[-1] == 3599.0
    assert len(biggest) > 100 and max(biggest) <= 16_000 * 31  # ~30 s blocks at 16 kHz


def test_batch_with_a_bad_file_keeps_going(tiny_bundle, tmp_path):
    good = write_tone(tmp_path / "good.wav")
    (tmp_path / "bad.wav").write_text("not audio")
    records = list(Predictor.from_bundle(tiny_bundle).predict_files([tmp_path / "bad.wav", good]))
    assert "error" in records[0] and "bad.wav" in records[0]["error"]
    assert "scores" in records[1]
    with pytest.raises(AudioError):
        Predictor.from_bundle(tiny_bundle).predict_file(tmp_path / "bad.wav")


def test_find_audio_files(tmp_path):
    write_tone(tmp_path / "a.wav")
    write_tone(tmp_path / "sub" / "b.flac")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in find_audio_files([tmp_path])] == ["a.wav"]
    assert [p.name for p in find_audio_files([tmp_path], recursive=True)] == ["a.wav", "b.flac"]


def test_waveform_api_takes_what_soundfile_returns(tiny_bundle, tmp_path):
    """``predict_waveform(*sf.read(f, always_2d=True))`` is ``predict(f)``, for every layout and dtype."""
    rng = np.random.default_rng(3)
    stereo = (0.3 * rng.standard_normal((44_100 * 2, 2))).astype(np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 44_100, subtype="PCM_16")
    predictor = Predictor.from_bundle(tiny_bundle)
    expected = predictor.predict_file(path)
    as_read, rate = sf.read(path, always_2d=True)
    as_int16, _ = sf.read(path, dtype="int16")
    for array, options in (
        (as_read, {}),
        (as_read.T, {}),
        (as_int16, {}),
        (as_read.T.copy(), {"channels_first": True}),
    ):
        record = predictor.predict_waveform(array, rate, name="stereo.wav", **options)
        assert record["duration_s"] == pytest.approx(expected["duration_s"], abs=1e-3)
        assert record["scores"] == pytest.approx(expected["scores"], abs=2e-3)


@pytest.mark.parametrize(
    "array,rate,message",
    [
        (np.full(16_000, np.nan, np.float32), 16_000, "NaN or infinite"),
        (np.zeros(16_000, np.float32), 1_000, "unsupported sample rate 1000 Hz"),
        (np.zeros((100, 100), np.float32), 16_000, "pass channels_first"),
        (np.zeros((2, 2, 2), np.float32), 16_000, "1-d or 2-d"),
    ],
)
def test_waveform_api_rejects_bad_arrays_clearly(tiny_bundle, array, rate, message):
    from instrumentid.errors import AudioError

    with pytest.raises(AudioError, match=message):
        Predictor.from_bundle(tiny_bundle).predict_waveform(array, rate, name="clip")


def test_prefetch_keeps_order_reraises_and_stops_with_the_consumer():
    import threading

    from instrumentid.inference.pipeline import prefetch

    assert list(prefetch(iter(range(10)))) == list(range(10))

    def failing():
        yield 1
        raise ValueError("bad block")

    with pytest.raises(ValueError, match="bad block"):
        list(prefetch(failing()))

    produced = []

    def endless():
        for i in range(10_000):
            produced.append(i)
            yield i

    for item in prefetch(endless(), depth=2):
        if item == 3:
            break
    assert len(produced) < 20 and not any(t.name == "instrumentid-decode" for t in threading.enumerate())


def test_files_predicted_side_by_side_come_back_in_order_with_their_errors(tiny_bundle, tmp_path):
    """predict_files runs ``concurrency`` files at once; the records, error records included,
    are the ones one file at a time gives, in the order the paths were given."""
    paths = []
    for i in range(9):
        if i % 3 == 2:
            paths.append(tmp_path / f"{i}-broken.wav")
            paths[-1].write_bytes(b"RIFF....not audio")
        else:
            paths.append(write_tone(tmp_path / f"{i}.wav", 200 + 100 * i, 0.5 + 0.4 * i, 16_000))
    serial = Predictor.from_bundle(tiny_bundle)
    parallel = Predictor.from_bundle(tiny_bundle)
    parallel.concurrency = 3  # files side by side, batches on a shared pool of 3
    expected, got = list(serial.predict_files(paths)), list(parallel.predict_files(paths))
    assert [r["file"] for r in got] == [r["file"] for r in expected] == [str(p) for p in paths]
    assert [("error" in r) for r in got] == [i % 3 == 2 for i in range(9)]
    for a, b in zip(got, expected, strict=True):
        assert a.get("error") == b.get("error") and a.get("scores") == pytest.approx(b.get("scores"), abs=1e-6)

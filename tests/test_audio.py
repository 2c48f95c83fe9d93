import os

import numpy as np
import pytest
import soundfile as sf

from helpers import encode_with_av, tone, write_tone
from instrumentid import audio
from instrumentid.errors import AudioError

CASES = [
    ("wav", "PCM_U8", 8_000),
    ("wav", "PCM_16", 16_000),
    ("wav", "PCM_24", 22_050),
    ("wav", "PCM_32", 44_100),
    ("wav", "FLOAT", 48_000),
    ("wav", "DOUBLE", 96_000),
    ("wav", "PCM_16", 192_000),
    ("flac", "PCM_16", 44_100),
    ("flac", "PCM_24", 88_200),
    ("ogg", "VORBIS", 44_100),
    ("mp3", "MPEG_LAYER_III", 44_100),
    ("aiff", "PCM_16", 32_000),
    ("aiff", "PCM_24", 11_025),
]


# MP3 carries at most two channels, so it is not asked for six.
MATRIX = [(*case, channels) for case in CASES for channels in (1, 2, 6) if not (case[0] == "mp3" and channels > 2)]


@pytest.mark.parametrize("fmt,subtype,rate,channels", MATRIX)
def test_decode_any_format_rate_depth_channels(tmp_path, fmt, subtype, rate, channels):
    path = write_tone(tmp_path / f"t.{fmt}", 440.0, 1.0, rate, channels, subtype)
    waveform, sr = audio.load(path, sample_rate=16_000)
    assert sr == 16_000 and waveform.dtype == np.float32 and waveform.ndim == 1
    assert abs(waveform.size - 16_000) < 1200  # mp3 adds encoder delay/padding
    # the tone survives: energy peaks at 440 Hz
    spectrum = np.abs(np.fft.rfft(waveform[:16_000] * np.hanning(min(16_000, waveform.size))))
    peak_hz = np.argmax(spectrum) * 16_000 / (2 * (spectrum.size - 1))
    assert abs(peak_hz - 440) < 5
    assert 0.3 < np.max(np.abs(waveform)) < 0.7


def test_multichannel_downmix_is_channel_mean(tmp_path):
    left, right = tone(300, 0.5, 16_000, 0.4), tone(500, 0.5, 16_000, 0.2)
    sf.write(tmp_path / "s.wav", np.stack([left, right], 1), 16_000, subtype="FLOAT")
    mono, _ = audio.load(tmp_path / "s.wav")
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-6)
    stereo, _ = audio.load(tmp_path / "s.wav", mono=False)
    assert stereo.shape == (2, left.size)


@pytest.mark.parametrize("channels", [2, 3, 6])
@pytest.mark.parametrize("channel_axis", [0, 1])
def test_to_mono_is_the_channel_mean_on_either_axis(channels, channel_axis):
    rng = np.random.default_rng(channels)
    frames = rng.uniform(-1, 1, (channels, 1000)).astype(np.float32)
    given = frames if channel_axis == 0 else frames.T
    mono = audio.to_mono(given, channel_axis=channel_axis)
    assert mono.dtype == np.float32 and mono.shape == (1000,)
    np.testing.assert_allclose(mono, frames.mean(axis=0), atol=1e-6)
    if channels == 2:  # halving is exact: bit for bit what the matrix product gave
        np.testing.assert_array_equal(mono, np.full(2, 0.5, np.float32) @ frames)
    assert given.tolist() == (frames if channel_axis == 0 else frames.T).tolist()  # the input is untouched


def test_resample_is_anti_aliased():
    y = tone(7_000, 1.0, 44_100)  # above the 4 kHz Nyquist of 8 kHz
    out = audio.resample(y, 44_100, 8_000)
    assert out.size == 8_000 and np.sqrt(np.mean(out**2)) < 0.01


def test_stream_equals_load_and_is_bounded(tmp_path):
    path = write_tone(tmp_path / "long.flac", 220.0, 7.3, 44_100, 2)
    whole, _ = audio.load(path, sample_rate=16_000)
    blocks = list(audio.stream(path, sample_rate=16_000, block_seconds=1.0))
    assert len(blocks) >= 7 and max(b.size for b in blocks) <= 16_000 * 1.1
    joined = np.concatenate(blocks)
    assert abs(joined.size - whole.size) <= 2
    n = min(joined.size, whole.size)
    np.testing.assert_allclose(joined[:n], whole[:n], atol=1e-4)


def test_silent_file_is_allowed(tmp_path):
    sf.write(tmp_path / "silence.wav", np.zeros(16_000, np.float32), 16_000)
    waveform, _ = audio.load(tmp_path / "silence.wav")
    assert waveform.shape == (16_000,) and not waveform.any()


def test_write_is_atomic_and_round_trips(tmp_path):
    y = tone(440, 0.5, 22_050)
    path = audio.write(tmp_path / "sub" / "x.wav", np.stack([y, y]), 22_050)
    back, sr = audio.load(path, mono=False)
    assert sr == 22_050 and back.shape == (2, y.size)
    assert [p.name for p in path.parent.iterdir()] == ["x.wav"]


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda p: p, "file not found"),
        (lambda p: (p.write_bytes(b""), p)[1], "empty"),
        (lambda p: (os.mkfifo(p), p)[1], "not a regular file"),  # would block forever if opened
        (lambda p: (p.write_text("hello, not audio" * 20), p)[1], "not decodable audio"),
        (lambda p: (p.write_bytes(np.random.default_rng(0).bytes(4096)), p)[1], "not decodable audio"),
    ],
    ids=["missing", "zero-bytes", "fifo", "text", "random-bytes"],
)
def test_bad_files_raise_audio_error_naming_the_file(tmp_path, make, match):
    path = make(tmp_path / "bad file.wav")
    with pytest.raises(AudioError, match=match) as info:
        audio.load(path)
    assert "bad file.wav" in str(info.value)


def test_zero_length_audio(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16_000)
    with pytest.raises(AudioError, match="zero length"):
        audio.load(tmp_path / "empty.wav")
    with pytest.raises(AudioError, match="zero length"):
        audio.info(tmp_path / "empty.wav")


def test_nan_and_inf_samples(tmp_path):
    y = tone(440, 0.5)
    y[100] = np.nan
    sf.write(tmp_path / "nan.wav", y, 16_000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite"):
        audio.load(tmp_path / "nan.wav")
    with pytest.raises(AudioError, match="NaN or infinite"):
        list(audio.stream(tmp_path / "nan.wav", sample_rate=16_000))


def test_unsupported_sample_rate(tmp_path):
    sf.write(tmp_path / "slow.wav", tone(100, 0.5, 4_000), 4_000)
    with pytest.raises(AudioError, match="unsupported sample rate 4000"):
        audio.load(tmp_path / "slow.wav")


def test_directory_is_not_audio(tmp_path):
    with pytest.raises(AudioError, match="directory"):
        audio.load(tmp_path)


@pytest.mark.parametrize("suffix,codec", [(".m4a", "aac"), (".ac3", "ac3"), (".mka", "opus")])
def test_formats_beyond_libsndfile(tmp_path, suffix, codec):
    """AAC, AC-3, Opus-in-Matroska decode through PyAV, in the same shape and with the same checks."""
    rate = 48_000 if codec == "opus" else 44_100
    path = encode_with_av(tmp_path / f"t{suffix}", codec, rate, 2)
    meta = audio.info(path)
    assert meta.sample_rate == rate and meta.channels == 2 and meta.format == "av"
    waveform, sr = audio.load(path, sample_rate=16_000)
    assert sr == 16_000 and abs(waveform.size - 16_000) < 2_000
    spectrum = np.abs(np.fft.rfft(waveform[:8_000]))
    assert abs(np.argmax(spectrum) * 16_000 / 8_000 - 440) < 5
    streamed = np.concatenate(list(audio.stream(path, sample_rate=16_000)))
    np.testing.assert_allclose(streamed, waveform, atol=1e-6)


def test_container_files_are_decoded_once_per_prediction(tmp_path, tiny_bundle, monkeypatch):
    """An M4A costs one full decode in predict (it used to cost three: info, stream, load)."""
    from instrumentid.inference.predictor import Predictor

    path = encode_with_av(tmp_path / "t.m4a", "aac", 44_100, 2)
    calls = []
    real_decode = audio._av_source
    monkeypatch.setattr(audio, "_av_source", lambda p, *a: calls.append(p) or real_decode(p, *a))
    record = Predictor.from_bundle(tiny_bundle).predict_file(path)
    assert len(calls) == 1 and abs(record["duration_s"] - 1.0) < 0.05

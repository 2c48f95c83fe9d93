"""Property-based fuzzing of the decode path (hypothesis): whatever the bytes, ``audio.info``,
``audio.load`` and ``audio.stream`` (what the predictor reads files with) end in finite float32
audio or in one clear :class:`AudioError` naming the file — never another exception, a hang or
NaN. Inputs: random bytes, truncated and mutated files of every supported format, absurd WAV and
AU headers (0 to 10⁹ channels, 1 Hz rates, huge data sizes), float WAVs holding NaN, Inf and
overflowing values. What the fuzzing found is kept below as explicit regression tests.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import encode_with_av, tone
from instrumentid import audio
from instrumentid.errors import AudioError

#: Examples per property; INSTRUMENTID_FUZZ_EXAMPLES=20000 fuzzes deeper locally (about 4 ms an example).
#: CI replays the same cases (as test_serve_fuzz does); local runs explore new ones.
FUZZ = settings(
    max_examples=int(os.environ.get("INSTRUMENTID_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=bool(os.environ.get("CI")),
)
#: Seconds after which a decode counts as hung: the process is stopped with every thread's traceback.
HANG_SECONDS = 120

#: Every format the package decodes: (suffix, soundfile format, subtype, rate); None = encoded with PyAV.
FORMATS = {
    "wav-pcm16": (".wav", "WAV", "PCM_16", 16_000),
    "wav-float": (".wav", "WAV", "FLOAT", 16_000),
    "wav-ulaw": (".wav", "WAV", "ULAW", 8_000),
    "wav-ima-adpcm": (".wav", "WAV", "IMA_ADPCM", 22_050),
    "flac": (".flac", "FLAC", "PCM_24", 44_100),
    "ogg-vorbis": (".ogg", "OGG", "VORBIS", 16_000),
    "ogg-opus": (".opus", "OGG", "OPUS", 48_000),
    "mp3": (".mp3", "MP3", "MPEG_LAYER_III", 16_000),
    "aiff": (".aiff", "AIFF", "PCM_16", 16_000),
    "au": (".au", "AU", "FLOAT", 16_000),
    "caf-alac": (".caf", "CAF", "ALAC_16", 16_000),
    "w64": (".w64", "W64", "PCM_16", 16_000),
    "m4a-aac": (".m4a", None, "aac", 44_100),
    "ac3": (".ac3", None, "ac3", 44_100),
    "mka-opus": (".mka", None, "opus", 48_000),
}
SUFFIXES = sorted({suffix for suffix, *_ in FORMATS.values()})


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


class SeedFiles(dict):
    """``{format name: bytes}``, shown briefly in hypothesis' reports."""

    def __repr__(self) -> str:
        return f"<{len(self)} seed files>"


@pytest.fixture(scope="module")
def seed_files(folder) -> SeedFiles:
    """The bytes of a valid 0.3-s stereo tone in every format, to be cut and mutated."""
    files = SeedFiles()
    for name, (suffix, fmt, subtype, rate) in FORMATS.items():
        path = folder / f"seed-{name}{suffix}"
        if fmt is None:
            encode_with_av(path, subtype, rate, 2, seconds=0.3)
        else:
            y = tone(440.0, 0.3, rate)
            sf.write(path, np.stack([y, 0.5 * y], axis=1), rate, format=fmt, subtype=subtype)
        files[name] = path.read_bytes()
    return files


@contextlib.contextmanager
def no_hang():
    """Stop the test run (with tracebacks) if the block does not finish: a hang inside C code too."""
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def _stream(path):
    blocks = list(audio.stream(path, sample_rate=16_000))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def check_decodes_or_refuses(path: Path) -> None:
    """``info``, ``load`` and ``stream`` each give finite float32 audio or an AudioError naming ``path``."""
    for name, decode in (
        ("info", audio.info),
        ("load", lambda p: audio.load(p, sample_rate=16_000)[0]),
        ("stream", _stream),
    ):
        with no_hang():
            try:
                result = decode(path)
            except AudioError as exc:
                message = str(exc)
                assert str(path) in message and "\n" not in message, f"{name}: {message!r}"
                continue
        if name == "info":
            assert audio.MIN_SAMPLE_RATE <= result.sample_rate <= audio.MAX_SAMPLE_RATE and result.channels >= 1
            assert result.frames > 0
        else:
            assert result.dtype == np.float32 and result.ndim == 1 and result.size > 0, f"{name}: {result!r}"
            assert np.isfinite(result).all(), f"{name}: non-finite samples"


def _write(folder: Path, data: bytes, suffix: str) -> Path:
    path = folder / f"case{suffix}"
    path.write_bytes(data)
    return path


# -- random bytes, cut and mutated files -----------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=4096), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes(folder, data, suffix):
    check_decodes_or_refuses(_write(folder, data, suffix))


@st.composite
def mutated(draw, seeds: dict[str, bytes]):
    """A seed file cut short and/or with bytes overwritten, a range deleted or repeated."""
    name = draw(st.sampled_from(sorted(seeds)))
    data = bytearray(seeds[name])
    for _ in range(draw(st.integers(0, 12))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    start = draw(st.integers(0, len(data)))
    stop = draw(st.integers(start, min(len(data), start + 512)))
    splice = draw(st.sampled_from(["none", "delete", "repeat"]))
    if splice == "delete":
        del data[start:stop]
    elif splice == "repeat":
        data[start:start] = data[start:stop]
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return FORMATS[name][0], bytes(data[:cut])


@FUZZ
@given(data=st.data())
def test_cut_and_mutated_files_of_every_format(folder, seed_files, data):
    suffix, content = data.draw(mutated(seed_files))
    check_decodes_or_refuses(_write(folder, content, suffix))


def test_every_seed_file_decodes(folder, seed_files):
    """The unmutated seeds are valid audio (else the mutations would test nothing)."""
    for name, content in seed_files.items():
        path = _write(folder, content, FORMATS[name][0])
        assert audio.load(path)[0].size > 0, name


# -- absurd headers --------------------------------------------------------------------------------


def wav_bytes(
    *,
    channels=1,
    rate=16_000,
    bits=16,
    tag=1,
    data_size=None,
    riff_size=None,
    block_align=None,
    payload=b"\x10\x20" * 400,
) -> bytes:
    """A RIFF/WAVE file with every header field under control (sizes default to the true ones)."""
    align = (channels * bits // 8) & 0xFFFF if block_align is None else block_align
    fmt = struct.pack("<HHIIHH", tag, channels, rate & 0xFFFFFFFF, (rate * align) & 0xFFFFFFFF, align, bits)
    body = (
        b"WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(payload) if data_size is None else data_size)
        + payload
    )
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def au_bytes(*, channels=1, rate=16_000, encoding=3, data_size=None, payload=b"\x10\x20" * 400) -> bytes:
    """A Sun/NeXT .au file (32-bit fields, so up to 4·10⁹ channels can be declared)."""
    size = len(payload) if data_size is None else data_size
    return b".snd" + struct.pack(">IIIII", 24, size, encoding, rate, channels) + payload


U16 = st.one_of(st.sampled_from([0, 1, 2, 3, 8, 255, 1024, 1025, 0xFFFF]), st.integers(0, 0xFFFF))
U32 = st.one_of(
    st.sampled_from([0, 1, 7_999, 8_000, 44_100, 192_001, 10**9, 2**31 - 1, 2**32 - 1]), st.integers(0, 2**32 - 1)
)


@FUZZ
@given(
    channels=U16,
    rate=U32,
    bits=st.one_of(st.sampled_from([0, 1, 8, 12, 16, 24, 32, 64]), U16),
    tag=st.sampled_from([0, 1, 2, 3, 6, 7, 0x11, 0x55, 0xFFFE, 0xFFFF]),
    data_size=st.one_of(st.none(), U32),
    riff_size=st.one_of(st.none(), U32),
    block_align=st.one_of(st.none(), U16),
    payload=st.binary(max_size=2048),
)
def test_absurd_wav_headers(folder, channels, rate, bits, tag, data_size, riff_size, block_align, payload):
    data = wav_bytes(
        channels=channels,
        rate=rate,
        bits=bits,
        tag=tag,
        data_size=data_size,
        riff_size=riff_size,
        block_align=block_align,
        payload=payload,
    )
    check_decodes_or_refuses(_write(folder, data, ".wav"))


@FUZZ
@given(
    channels=st.one_of(st.sampled_from([0, 1, 2, 1024, 1025, 10**9]), U32),
    rate=U32,
    encoding=st.one_of(st.sampled_from([1, 2, 3, 4, 5, 6, 7, 27]), U32),
    data_size=st.one_of(st.none(), U32),
    payload=st.binary(max_size=2048),
)
def test_absurd_au_headers(folder, channels, rate, encoding, data_size, payload):
    data = au_bytes(channels=channels, rate=rate, encoding=encoding, data_size=data_size, payload=payload)
    check_decodes_or_refuses(_write(folder, data, ".au"))


# -- NaN, Inf and overflowing floats ---------------------------------------------------------------


@FUZZ
@given(
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=2, max_size=600),
    channels=st.sampled_from([1, 2, 3]),
    subtype=st.sampled_from(["FLOAT", "DOUBLE"]),
    rate=st.sampled_from([8_000, 16_000, 44_100]),
)
def test_float_wavs_with_nan_inf_and_extreme_values(folder, values, channels, subtype, rate):
    samples = np.asarray(values, dtype=np.float32)[: len(values) // channels * channels].reshape(-1, channels)
    path = folder / "floats.wav"
    sf.write(path, samples, rate, subtype=subtype)
    check_decodes_or_refuses(path)
    if not np.isfinite(samples).all():
        with pytest.raises(AudioError, match="NaN or infinite"):
            audio.load(path)
    elif samples.size and np.abs(samples).max() > audio.MAX_ABS_SAMPLE:
        with pytest.raises(AudioError, match="far outside the ±1 full scale"):
            audio.load(path)


# -- what the fuzzing found, kept as regression tests -----------------------------------------------


def test_found_one_byte_file_streams_nothing(folder):
    """test_random_bytes: b"\\x00" named .au is read as one raw u-law frame; at 16 kHz ``stream``
    yielded no block at all (no audio, no error). It now says no decoder found audio in it."""
    path = _write(folder, b"\x00", ".au")
    with pytest.raises(AudioError, match=r"case\.au: not decodable audio"):
        list(audio.stream(path, sample_rate=16_000))
    check_decodes_or_refuses(path)


def test_found_one_frame_vanishes_when_resampled(folder):
    """test_float_wavs...: one stereo frame at 44.1 kHz resampled to 16 kHz made ``load`` return an
    empty array."""
    path = folder / "one-frame.wav"
    sf.write(path, np.zeros((1, 2), np.float32), 44_100, subtype="FLOAT")
    with pytest.raises(AudioError, match="one-frame.wav: audio has zero length at 16000 Hz"):
        audio.load(path, sample_rate=16_000)
    check_decodes_or_refuses(path)


@pytest.mark.parametrize("channels", [1, 2])
def test_found_samples_near_float32_max_overflow_to_inf(folder, channels):
    """test_float_wavs...: [1.7e38, 1.7e38] at 8 kHz resampled to +-inf (and a stereo pair near 3e38
    down-mixed to inf). The server's fuzzing found it too; finite samples beyond +-1000 are refused."""
    path = folder / "huge.wav"
    sf.write(path, np.full((2, channels), 1.7e38, np.float32), 8_000, subtype="FLOAT")
    for decode in (lambda: audio.load(path, sample_rate=16_000), lambda: list(audio.stream(path, sample_rate=16_000))):
        with pytest.raises(AudioError, match=r"huge.wav: samples reach 1.7e\+38, far outside the ±1 full scale"):
            decode()
    loud = folder / "loud.wav"  # overs a float file may legitimately carry still decode
    sf.write(loud, 4.0 * tone(440.0, 0.5), 16_000, subtype="FLOAT")
    assert np.abs(audio.load(loud)[0]).max() == pytest.approx(2.0, rel=1e-3)


def test_found_mp3_header_declaring_ten_billion_samples(folder, seed_files):
    """test_cut_and_mutated...: one flipped byte in an MP3's Xing header declared 16.7 million frames
    (9.7e9 samples), and ``load`` asked numpy for 72 GiB up front. It now reads what is there."""
    data = bytearray(seed_files["mp3"])
    at = data.index(b"Xing") + 8  # tag, flags, then the frame count (big-endian)
    data[at : at + 4] = b"\xff\xff\xff\xff"
    path = _write(folder, bytes(data), ".mp3")
    assert audio.info(path).frames > 10**9  # the header still lies...
    waveform, _ = audio.load(path, sample_rate=16_000)
    assert 0.2 < waveform.size / 16_000 < 0.5  # ...but only the 0.3 s it holds is decoded
    check_decodes_or_refuses(path)


def test_found_non_utf8_tags_in_a_pyav_container(folder):
    """test_cut_and_mutated...: a tag that is not UTF-8 made PyAV raise UnicodeDecodeError while
    opening the file. Tags are now decoded with replacement characters (they are not used)."""
    import av

    path = folder / "tagged.mka"
    encode_with_av(path, "opus", 48_000, 2, seconds=0.3)
    with av.open(str(path)) as container:  # re-mux with a title tag to corrupt
        packets = list(container.demux(container.streams.audio[0]))
        template = container.streams.audio[0]
        with av.open(str(folder / "retagged.mka"), "w") as out:
            out.metadata["title"] = "TITLE-TO-CORRUPT"
            stream = out.add_stream_from_template(template)
            for packet in packets:
                if packet.dts is not None:
                    packet.stream = stream
                    out.mux(packet)
    data = (folder / "retagged.mka").read_bytes().replace(b"TITLE-TO-CORRUPT", b"\xff\xfe\x80 not UTF-8 \xc3\x28")
    path = _write(folder, data, ".mka")
    waveform, rate = audio.load(path, mono=False)
    assert rate == 48_000 and waveform.shape[0] == 2 and np.isfinite(waveform).all()
    check_decodes_or_refuses(path)


def test_found_ac3_changing_channel_layout_midstream(folder):
    """test_cut_and_mutated...: a damaged AC-3 frame switched the stream from 3 to 2 channels and the
    blocks could not be joined (ValueError). Later frames are now converted to the first layout."""
    three = encode_with_av(folder / "three.ac3", "ac3", 44_100, 3, seconds=0.3)
    two = encode_with_av(folder / "two.ac3", "ac3", 44_100, 2, seconds=0.3)
    path = _write(folder, three.read_bytes() + two.read_bytes(), ".ac3")  # raw AC-3 frames concatenate
    waveform, rate = audio.load(path, mono=False)
    assert rate == 44_100 and waveform.shape[0] == 3 and np.isfinite(waveform).all()
    assert 0.5 < waveform.shape[1] / rate < 0.75  # both halves are there
    check_decodes_or_refuses(path)

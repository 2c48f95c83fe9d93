"""Property-based fuzzing of ``POST /predict`` (hypothesis): random bytes, truncated and mutated
files of every writable format, absurd WAV/AU headers, NaN/Inf float samples, odd thresholds.

Whatever arrives, the answer is a 200 array of records or a clear 4xx JSON error naming the file:
never a 500, a traceback, a hang, a temporary path, a null score or a NaN in the JSON.
"""

import functools
import io
import json
import math
import os
import struct

import numpy as np
import pytest
import soundfile as sf

hypothesis = pytest.importorskip("hypothesis")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from helpers import tone  # noqa: E402
from instrumentid import audio  # noqa: E402
from instrumentid.errors import AudioError  # noqa: E402
from instrumentid.inference.predictor import Predictor  # noqa: E402
from instrumentid.labels import LABELS  # noqa: E402
from instrumentid.serve import Limits, create_app  # noqa: E402

FUZZ = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=bool(os.environ.get("CI"))
)  # CI replays the same cases; local runs explore
SUFFIXES = [".wav", ".flac", ".ogg", ".mp3", ".au", ".caf", ".m4a", ".webm", ""]


@pytest.fixture(scope="module")
def client(tiny_bundle):
    app = create_app(Predictor.from_bundle(tiny_bundle), Limits(max_upload_mb=1.0, max_duration_s=30.0))
    with TestClient(app) as client:
        yield client


def _no_nan(constant: str):
    raise AssertionError(f"{constant} in the JSON")


def _assert_clear_error(message, name: str) -> None:
    assert isinstance(message, str) and message.startswith(name + ":") and "\n" not in message, message
    assert "unexpected" not in message, f"the server's safety net caught a bug: {message}"


def post(client, files: list[tuple[str, bytes]], params: dict | None = None) -> list[dict] | None:
    """POST ``files``; assert the answer keeps the contract; the records of a 200 (None for a 4xx)."""
    response = client.post("/predict", files=[("files", f) for f in files], params=params)
    text = response.text
    assert response.status_code in (200, 413, 422), (response.status_code, text[:500])
    assert "Traceback" not in text and "instrumentid-" not in text, text[:500]  # no trace, no temporary path
    body = json.loads(text, parse_constant=_no_nan)
    if response.status_code != 200:
        if isinstance(
            body["detail"], str
        ):  # our own errors (every file failed); FastAPI's validation errors are a list
            _assert_clear_error(body["detail"], files[0][0])
            assert all(name + ":" in body["detail"] for name, _ in files)
        return None
    assert [r["file"] for r in body] == [name for name, _ in files]
    for record in body:
        if "error" in record:
            _assert_clear_error(record["error"], record["file"])
            continue
        assert list(record["scores"]) == list(LABELS) and set(record["present"]) <= set(LABELS)
        for segment in [record, *record.get("segments", [])]:
            assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in segment["scores"].values()), segment
        assert math.isfinite(record["duration_s"])
    return body


@functools.cache
def encoded(kind: str) -> bytes:
    """A tiny real file (0.4 s stereo tone) of ``kind``, made with soundfile."""
    fmt, subtype = {
        "wav": ("WAV", "PCM_16"),
        "wav-float": ("WAV", "FLOAT"),
        "flac": ("FLAC", "PCM_16"),
        "ogg": ("OGG", "VORBIS"),
        "mp3": ("MP3", "MPEG_LAYER_III"),
    }[kind]
    buffer = io.BytesIO()
    y = tone(440.0, 0.4, 16_000)
    sf.write(buffer, np.stack([y, 0.5 * y], axis=1), 16_000, format=fmt, subtype=subtype)
    return buffer.getvalue()


KINDS = ["wav", "wav-float", "flac", "ogg", "mp3"]
SUFFIX_OF = {"wav": ".wav", "wav-float": ".wav", "flac": ".flac", "ogg": ".ogg", "mp3": ".mp3"}


def wav_header(*, channels: int, rate: int, bits: int, tag: int, data: bytes, data_size: int | None) -> bytes:
    """A RIFF/WAVE file with whatever fmt fields are given (block align and byte rate derived, wrapped)."""
    block = (channels * bits // 8) & 0xFFFF
    fmt = struct.pack("<HHIIHH", tag, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits)
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body) & 0xFFFFFFFF) + body


def au_header(*, channels: int, rate: int, encoding: int, data: bytes) -> bytes:
    """A Sun .au file: its channel count is 32 bits wide, so 10^9 channels can be claimed."""
    return struct.pack(">4sIIIII", b".snd", 24, len(data), encoding, rate, channels) + data


@FUZZ
@given(data=st.binary(max_size=4096), suffix=st.sampled_from(SUFFIXES))
@example(data=b"", suffix=".wav")
@example(data=bytes(range(256)) * 4, suffix=".m4a")
def test_random_bytes(client, data, suffix):
    post(client, [("upload" + suffix, data)])


@FUZZ
@given(
    kind=st.sampled_from(KINDS),
    cut=st.floats(0.0, 1.0),
    writes=st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 255)), max_size=16),
)
@example(kind="mp3", cut=0.05, writes=[])
@example(kind="ogg", cut=0.3, writes=[])
@example(kind="flac", cut=0.1, writes=[])
def test_truncated_and_mutated_files_never_spoil_a_good_one(client, kind, cut, writes):
    """Cut each format at any point and overwrite bytes anywhere; a good file in the same request is still scored."""
    data = bytearray(encoded(kind)[: max(1, round(cut * len(encoded(kind))))])
    for where, value in writes:
        data[int(where * len(data))] = value
    bad = "bad" + SUFFIX_OF[kind]
    records = post(client, [(bad, bytes(data)), ("good.wav", encoded("wav"))])
    assert records is not None and "scores" in records[1]


@FUZZ
@given(
    channels=st.sampled_from([0, 1, 2, 255, 65535]) | st.integers(0, 65535),
    rate=st.sampled_from([0, 1, 7_999, 16_000, 192_001, 2**32 - 1]) | st.integers(0, 2**32 - 1),
    bits=st.sampled_from([0, 1, 8, 16, 24, 32, 64, 65535]),
    tag=st.sampled_from([0, 1, 3, 6, 7, 0x55, 0xFFFE]),
    data=st.binary(max_size=512),
    data_size=st.none() | st.sampled_from([0, 1, 2**31, 2**32 - 1]),
)
@example(channels=0, rate=16_000, bits=16, tag=1, data=b"\0" * 64, data_size=None)
@example(channels=65535, rate=16_000, bits=16, tag=1, data=b"\0" * 64, data_size=None)
@example(channels=1, rate=1, bits=16, tag=1, data=b"\0" * 64, data_size=None)
@example(channels=1, rate=16_000, bits=16, tag=1, data=b"\1" * 64, data_size=2**32 - 1)
def test_absurd_wav_headers(client, channels, rate, bits, tag, data, data_size):
    post(
        client,
        [("header.wav", wav_header(channels=channels, rate=rate, bits=bits, tag=tag, data=data, data_size=data_size))],
    )


@FUZZ
@given(
    channels=st.sampled_from([0, 1, 2, 10**9, 2**32 - 1]),
    rate=st.sampled_from([0, 1, 8_000, 2**32 - 1]),
    encoding=st.sampled_from([1, 2, 3, 6, 7, 27, 99]),
    data=st.binary(max_size=512),
)
@example(channels=10**9, rate=16_000, encoding=3, data=b"\0" * 64)
def test_absurd_au_headers(client, channels, rate, encoding, data):
    post(client, [("header.au", au_header(channels=channels, rate=rate, encoding=encoding, data=data))])


SPECIAL = [math.nan, math.inf, -math.inf, 3e38, -3e38, 1e-45, 0.0]


@FUZZ
@given(
    values=st.lists(st.tuples(st.integers(0, 8_000 - 1), st.sampled_from(SPECIAL)), min_size=1, max_size=8),
    subtype=st.sampled_from(["FLOAT", "DOUBLE"]),
    channels=st.integers(1, 2),
)
@example(values=[(100, 3e38)], subtype="FLOAT", channels=1)  # found by this test: null scores (float32 overflow)
@example(values=[(100, math.nan)], subtype="FLOAT", channels=1)
def test_non_finite_and_huge_float_samples(client, values, subtype, channels):
    y = np.stack([tone(440.0, 0.5, 16_000)] * channels, axis=1).astype(np.float64)
    for index, value in values:
        y[index, -1] = value
    buffer = io.BytesIO()
    sf.write(buffer, y, 16_000, format="WAV", subtype=subtype)
    records = post(client, [("float.wav", buffer.getvalue())])
    if not np.isfinite(y.astype(np.float32 if subtype == "FLOAT" else np.float64)).all():
        assert records is None  # 422, the message checked by post()


@FUZZ
@given(threshold=st.floats(allow_nan=True, allow_infinity=True).map(repr) | st.text(max_size=6))
@example(threshold="nan")
@example(threshold="inf")
def test_any_threshold_query(client, threshold):
    records = post(client, [("a.wav", encoded("wav"))], params={"threshold": threshold})
    if records is not None:
        assert float(threshold) >= 0 and float(threshold) <= 1


def test_huge_float_samples_are_refused_by_name(tmp_path):
    """Regression (the fuzzer's first find): float32 samples of ±3e38 are finite, but the spectrogram
    overflows and every score came back null; the decoder now refuses them, naming the peak."""
    path = tmp_path / "loud.wav"
    sf.write(path, np.full(8_000, 3e38, dtype=np.float32), 16_000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"loud.wav: samples reach 3e\+38"):
        audio.load(path)
    with pytest.raises(AudioError, match="samples reach"):
        list(audio.stream(path, sample_rate=16_000))

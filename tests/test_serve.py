"""The HTTP server: in-process through TestClient, and once for real over a socket."""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the server needs the 'serve' extra")
from fastapi.testclient import TestClient  # noqa: E402

from instrumentid.labels import LABELS  # noqa: E402
from instrumentid.predict import Predictor  # noqa: E402
from instrumentid.serve import Limits, create_app  # noqa: E402

from helpers import write_tone  # noqa: E402


@pytest.fixture(scope="module")
def predictor(tiny_bundle):
    return Predictor.from_bundle(tiny_bundle)


@pytest.fixture
def client(predictor):
    return TestClient(create_app(predictor, Limits(max_upload_mb=1.0, max_duration_s=5.0)))


def test_page_health_labels_openapi(client):
    page = client.get("/")
    assert page.status_code == 200 and "<title>instrumentid" in page.text and "predict" in page.text
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["model"]["labels"] == list(LABELS)
    assert [entry["code"] for entry in client.get("/labels").json()] == list(LABELS)
    assert "/predict" in client.get("/openapi.json").json()["paths"]


def test_predict_equals_the_predictor(client, predictor, tmp_path):
    a = write_tone(tmp_path / "a tone.wav", 440, 2.0, 44_100, channels=2)
    b = write_tone(tmp_path / "b.flac", 220, 1.2, 22_050)
    with open(a, "rb") as fa, open(b, "rb") as fb:
        response = client.post("/predict?segments=true", files=[("files", ("a tone.wav", fa)), ("files", ("b.flac", fb))])
    assert response.status_code == 200
    records = response.json()
    assert [r["file"] for r in records] == ["a tone.wav", "b.flac"]
    expected = predictor.predict_file(a, segments=True, name="a tone.wav")
    assert records[0] == json.loads(json.dumps(expected))


def test_threshold_query(client, tmp_path):
    a = write_tone(tmp_path / "a.wav")
    with open(a, "rb") as fa:
        record = client.post("/predict?threshold=0", files=[("files", ("a.wav", fa))]).json()[0]
    assert record["present"] == list(LABELS)
    with open(a, "rb") as fa:
        assert client.post("/predict?threshold=3", files=[("files", ("a.wav", fa))]).status_code == 422


def test_bad_audio_is_422_naming_the_problem(client):
    response = client.post("/predict", files=[("files", ("notes.wav", b"this is not audio" * 10))])
    assert response.status_code == 422 and "notes.wav" in response.json()["detail"]
    assert "instrumentid-" not in response.json()["detail"]  # no temporary paths leak


def test_mixed_batch_keeps_good_files(client, tmp_path):
    good = write_tone(tmp_path / "g.wav")
    with open(good, "rb") as fg:
        records = client.post("/predict", files=[("files", ("bad.mp3", b"\x00" * 64)), ("files", ("g.wav", fg))]).json()
    assert "error" in records[0] and "scores" in records[1]


def test_limits(client, tmp_path):
    big = np.zeros(1_200_000, dtype=np.uint8).tobytes()
    response = client.post("/predict", files=[("files", ("big.wav", big))])
    assert response.status_code == 413 and "1 MB" in response.json()["detail"]
    long = write_tone(tmp_path / "long.wav", 440, 6.0, 8_000)
    with open(long, "rb") as fl:
        response = client.post("/predict", files=[("files", ("long.wav", fl))])
    assert response.status_code == 422 and "5 s limit" in response.json()["detail"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_real_server_over_http(tiny_bundle, tmp_path):
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "instrumentid.cli", "serve", "--model", str(tiny_bundle),
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                with urllib.request.urlopen(base + "/health", timeout=1) as r:
                    assert json.load(r)["status"] == "ok"
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("server did not start: " + server.stdout.read1().decode(errors="replace"))
        wav = write_tone(tmp_path / "x.wav").read_bytes()
        boundary = "----instrumentid"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"x.wav\"\r\n"
                f"Content-Type: audio/wav\r\n\r\n").encode() + wav + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(base + "/predict", data=body, method="POST",
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(request, timeout=60) as r:
            (record,) = json.load(r)
        assert record["file"] == "x.wav" and list(record["scores"]) == list(LABELS)
    finally:
        server.terminate()
        server.wait(timeout=30)

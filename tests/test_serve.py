"""The HTTP server: in-process through TestClient, and once for real over a socket."""

import json
import re
import socket
import threading
import time
import urllib.request

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the server needs the 'serve' extra")
from fastapi.testclient import TestClient

from helpers import free_port, serving, write_tone
from instrumentid.inference.predictor import Predictor
from instrumentid.labels import LABELS
from instrumentid.serve import Limits, create_app


@pytest.fixture(scope="module")
def predictor(tiny_bundle):
    return Predictor.from_bundle(tiny_bundle)


@pytest.fixture
def client(predictor):
    with TestClient(create_app(predictor, Limits(max_upload_mb=1.0, max_duration_s=5.0))) as client:
        yield client


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
        response = client.post(
            "/predict?segments=true", files=[("files", ("a tone.wav", fa)), ("files", ("b.flac", fb))]
        )
    assert response.status_code == 200
    records = response.json()
    assert [r["file"] for r in records] == ["a tone.wav", "b.flac"]
    expected = predictor.predict_file(a, segments=True, name="a tone.wav")
    assert records[0] == json.loads(json.dumps(expected))
    assert client.get("/health").json()["queue"]["windows"] >= 2 + 2  # scored by the server's model thread


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


@pytest.mark.slow
def test_real_server_over_http(tiny_bundle, tmp_path):
    with serving("--model", str(tiny_bundle)) as server:
        status, (record,) = _post(server.url, "x.wav", write_tone(tmp_path / "x.wav").read_bytes(), timeout=60)
        assert status == 200 and record["file"] == "x.wav" and list(record["scores"]) == list(LABELS)
        server.stop()
        log = server.output()
    assert "Application shutdown complete" in log and "Traceback" not in log  # SIGTERM shuts down gracefully


def test_docs_work_offline(client):
    """/docs is Swagger UI from local files: no external URL in the page, every asset it names is served."""
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert not re.findall(r"https?://", page.text)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert len(assets) == 4  # script, style, favicon, the OpenAPI schema
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert client.get("/redoc").status_code == 404  # ReDoc would need a CDN: not offered


WAIT_S = 30  # a safety net against a hang, never a timing assertion


def blocking(predictor, started: threading.Event, release: threading.Event):
    """``predictor`` whose ``predict_file`` waits for ``release`` (a request held in a worker)."""
    predict_file = predictor.predict_file

    def held(*args, **kwargs):
        started.set()
        assert release.wait(WAIT_S)
        return predict_file(*args, **kwargs)

    predictor.predict_file = held
    return predictor


def test_full_queue_is_503_with_retry_after(tiny_bundle, tmp_path):
    started, release = threading.Event(), threading.Event()
    app = create_app(blocking(Predictor.from_bundle(tiny_bundle), started, release), workers=1, queue_size=0)
    wav = write_tone(tmp_path / "a.wav").read_bytes()
    with TestClient(app) as client:
        first = {}
        sender = threading.Thread(
            target=lambda: first.update(r=client.post("/predict", files=[("files", ("a.wav", wav))]))
        )
        sender.start()
        assert started.wait(WAIT_S)
        queue = client.get("/health").json()["queue"]
        assert (queue["workers"], queue["queue_size"], queue["pending"]) == (1, 0, 1)
        refused = client.post("/predict", files=[("files", ("b.wav", wav))])
        assert refused.status_code == 503 and "busy" in refused.json()["detail"]
        assert int(refused.headers["Retry-After"]) >= 1
        release.set()
        sender.join(WAIT_S)
        assert first["r"].status_code == 200 and first["r"].json()[0]["file"] == "a.wav"
        assert client.post("/predict", files=[("files", ("c.wav", wav))]).status_code == 200


def _post(base: str, name: str, data: bytes, timeout: float = WAIT_S):
    boundary = "----instrumentid"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f"Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        base + "/predict",
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.load(response)


def test_shutdown_finishes_the_request_in_flight(tiny_bundle, tmp_path):
    """Stopping uvicorn (what SIGTERM does) stops accepting, answers the held request, then stops the workers."""
    uvicorn = pytest.importorskip("uvicorn")
    started, release = threading.Event(), threading.Event()
    app = create_app(blocking(Predictor.from_bundle(tiny_bundle), started, release), workers=1)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    running = threading.Thread(target=server.run)
    running.start()
    try:
        for _ in range(WAIT_S * 10):
            if server.started:
                break
            time.sleep(0.1)
        answer = {}
        wav = write_tone(tmp_path / "a.wav").read_bytes()
        client = threading.Thread(target=lambda: answer.update(r=_post(f"http://127.0.0.1:{port}", "a.wav", wav)))
        client.start()
        assert started.wait(WAIT_S)
        server.should_exit = True
        for _ in range(WAIT_S * 10):  # the listening socket closes while the request is still held
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the server kept accepting connections after shutdown began")
        assert running.is_alive() and not app.state.inference.closed
        release.set()
        client.join(WAIT_S)
        status, records = answer["r"]
        assert status == 200 and records[0]["file"] == "a.wav"
        running.join(WAIT_S)
        assert not running.is_alive() and app.state.inference.closed
    finally:
        release.set()
        server.should_exit = True
        running.join(WAIT_S)


def test_a_bug_or_a_nan_on_one_file_is_that_files_error_record(tiny_bundle, tmp_path):
    """The server's last line of defence: never a 500, never a NaN or null score in the JSON."""
    predictor = Predictor.from_bundle(tiny_bundle)
    predict_file = predictor.predict_file

    def faulty(path, *, name, **kwargs):
        if name == "bug.wav":
            raise RuntimeError("boom")
        record = predict_file(path, name=name, **kwargs)
        if name == "nan.wav":
            record["scores"]["gac"] = float("nan")
        return record

    predictor.predict_file = faulty
    wav = write_tone(tmp_path / "a.wav").read_bytes()
    with TestClient(create_app(predictor)) as client:
        response = client.post("/predict", files=[("files", (n, wav)) for n in ("bug.wav", "nan.wav", "ok.wav")])
    assert response.status_code == 200 and "NaN" not in response.text and "null" not in response.text
    bug, nan, ok = response.json()
    assert bug["error"] == "bug.wav: could not be processed (unexpected RuntimeError: boom)"
    assert nan["error"] == "nan.wav: the model gave non-finite scores for this audio"
    assert "scores" in ok


def test_a_pyav_format_is_decoded_once_and_its_duration_cap_holds(client, predictor, tmp_path, monkeypatch):
    from helpers import encode_with_av
    from instrumentid import audio

    short = encode_with_av(tmp_path / "short.m4a", "aac", 44_100, 2, seconds=2.0)
    long = encode_with_av(tmp_path / "long.m4a", "aac", 44_100, 1, seconds=7.0)  # over the 5-s cap
    assert abs(audio.declared_duration(short) - 2.0) < 0.1
    decodes = []
    original = audio._av_source
    monkeypatch.setattr(audio, "_av_source", lambda path, *a: decodes.append(path) or original(path, *a))
    with open(short, "rb") as fs, open(long, "rb") as fl:
        records = client.post("/predict", files=[("files", ("short.m4a", fs)), ("files", ("long.m4a", fl))]).json()
    served = records[0]["scores"]
    assert len(decodes) == 1
    assert served == predictor.predict(short)["scores"]
    assert "longer than the 5 s limit" in records[1]["error"]
    assert len(decodes) == 2  # plus the direct predict above: the server itself decoded once


def test_the_upload_limit_follows_the_duration_limit(predictor, tmp_path):
    """By default an hour of CD-quality WAV (and of 48-kHz 16-bit stereo) fits the hour's duration
    limit; a smaller duration limit brings a smaller upload limit with it."""
    with TestClient(create_app(predictor)) as client:
        limits = client.get("/health").json()["limits"]
    assert limits["max_duration_s"] == 3600 and limits["max_upload_mb"] * 1e6 >= 3600 * 48_000 * 2 * 2 + 44
    with TestClient(create_app(predictor, Limits(max_duration_s=5.0))) as client:
        assert client.get("/health").json()["limits"]["max_upload_mb"] == 2.0
        response = client.post("/predict", files=[("files", ("big.wav", bytes(2_100_000)))])
    assert response.status_code == 413 and "big.wav: upload larger than 2 MB" in response.json()["detail"]


def test_names_come_back_as_sent_and_the_openapi_page_describes_the_record(client, tmp_path):
    """httpx, like browsers, sends a '"' in a file name as %22: the record names the file as the user did."""
    wav = write_tone(tmp_path / "a.wav").read_bytes()
    names = ['say "hi".wav', "50% off.wav", "ピアノ.wav"]
    response = client.post("/predict", files=[("files", (name, wav)) for name in names])
    assert response.status_code == 200
    assert [r["file"] for r in response.json()] == names
    spec = client.get("/openapi.json").json()
    ok = spec["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["type"] == "array" and ok["items"]["$ref"].endswith("/Record")
    record = spec["components"]["schemas"]["Record"]["properties"]
    assert {"file", "duration_s", "scores", "present", "segments", "warnings", "error", "activity"} <= set(record)


def test_an_activity_field_passes_through_the_response_model(tiny_bundle, tmp_path):
    """The record's optional per-label active ranges are accepted and returned as they are."""
    predictor = Predictor.from_bundle(tiny_bundle)
    predict_file = predictor.predict_file
    predictor.predict_file = lambda path, **kwargs: {
        **predict_file(path, **kwargs),
        "activity": {"sax": [[0.0, 0.5]], "pia": []},
    }
    with TestClient(create_app(predictor)) as client:
        (record,) = client.post(
            "/predict", files=[("files", ("a.wav", write_tone(tmp_path / "a.wav").read_bytes()))]
        ).json()
    assert record["activity"] == {"sax": [[0.0, 0.5]], "pia": []} and "segments" not in record and "error" not in record

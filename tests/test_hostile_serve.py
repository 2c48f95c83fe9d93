"""Hostile clients against a real ``instrumentid serve`` (uvicorn on a free loopback port), issue 17."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from helpers import encode_long_stream, write_tone

import instrumentid

ENV = {**os.environ, "PYTHONPATH": str(Path(instrumentid.__file__).parents[1])}
MAX_REQUEST_MB = 1
BOUNDARY = "hostileboundary"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_bundle):
    """One server: 1 worker, no queue, 1-MB requests, 60-s audio, 2-s body reads; its own TMPDIR."""
    spool = tmp_path_factory.mktemp("spool")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "instrumentid.cli", "serve", "--model", str(tiny_bundle), "--port", str(port),
         "--workers", "1", "--queue-size", "0", "--max-request-mb", str(MAX_REQUEST_MB), "--max-duration-s", "60",
         "--read-timeout-s", "2", "--cors-origin", "http://good.example"],
        env={**ENV, "TMPDIR": str(spool)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    yield {"port": port, "pid": proc.pid, "spool": spool}
    proc.terminate()
    proc.wait(timeout=60)


def _multipart(*files: tuple[str, bytes]) -> bytes:
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
             f"Content-Type: application/octet-stream\r\n\r\n".encode("utf-8", "surrogatepass") + data + b"\r\n"
             for name, data in files]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def _head(port: int, length: int | None = None, *, path: str = "/predict", extra: str = "") -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{size}\r\n").encode()


def _post(port: int, body: bytes, *, extra: str = "", path: str = "/predict") -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(_head(port, len(body), path=path, extra=extra) + body)
        return _response(sock)


def _response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head + b"\r\n\r\n" + body


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def _json(response: bytes):
    return json.loads(response.partition(b"\r\n\r\n")[2])


def test_a_long_stream_without_duration_stops_at_the_cap_in_bounded_memory(server, tmp_path):
    """High 1: a live Matroska stream (no duration) was decoded whole past --max-duration-s."""
    stream = encode_long_stream(tmp_path / "live.mka", 300).read_bytes()
    stream = stream[: MAX_REQUEST_MB * 1_000_000 - 1000]  # cut to fit the body cap: about 90 s, no duration anywhere
    status, response = _post(server["port"], _multipart(("live.mka", stream)))
    assert status == 422 and b"longer than the 60 s limit" in response
    peak_kb = int(next(line for line in Path(f"/proc/{server['pid']}/status").read_text().splitlines()
                       if line.startswith("VmHWM")).split()[1])
    assert peak_kb < 1_000_000


def test_playlists_are_refused_and_nul_names_are_error_records(server, tmp_path):
    """High 2 and Low: an m3u8 naming a server file was decoded; a NUL in a name gave a 500."""
    target = write_tone(tmp_path / "private.wav", seconds=7.0)
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:8\n#EXTINF:7.0,\n{target}\n#EXT-X-ENDLIST\n".encode()
    wav = write_tone(tmp_path / "ok.wav").read_bytes()
    status, response = _post(server["port"], _multipart(("x.m3u8", playlist), ("a\x00.wav", wav), ("ok.wav", wav)))
    assert status == 200
    playlist_record, nul, ok = _json(response)
    assert "not an audio container" in playlist_record["error"] and "7.0" not in response.decode()
    assert nul["error"] == "a\\x00.wav: the file name holds a NUL byte" and "scores" in ok


def test_a_declared_oversized_body_is_refused_before_it_is_sent(server):
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=10) as sock:
        sock.sendall(_head(server["port"], 2 * 2**30))
        status, response = _response(sock)
    assert status == 413 and b"--max-request-mb" in response


def test_a_streamed_body_is_refused_once_past_the_cap_and_nothing_beyond_is_spooled(server):
    """Medium 3: 2 GiB were spooled to disk before the 413. The client here offers 2 GiB in chunks
    and gets the 413 long before it has sent them."""
    chunk = b"x" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=10) as sock:
        start = _multipart(("big.wav", b""))[: -len(f"\r\n--{BOUNDARY}--\r\n")]  # a part whose data never ends
        sock.sendall(_head(server["port"]) + f"{len(start):x}\r\n".encode() + start + b"\r\n")
        sock.settimeout(0.05)
        status = None
        while sent < 2 * 2**30 and status is None:
            try:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
                status = int(sock.recv(4096).split()[1])
            except TimeoutError:
                continue
    assert status == 413 and sent < 4 * MAX_REQUEST_MB * 1_000_000
    spooled = sum(f.stat().st_size for f in server["spool"].rglob("*") if f.is_file())
    assert spooled <= MAX_REQUEST_MB * 1_000_000


def test_hosts_and_origins_are_checked(server):
    """Low: any Host was answered (DNS rebinding) and cross-site multipart POSTs were processed."""
    port = server["port"]
    request = urllib.request.Request(f"http://127.0.0.1:{port}/health", headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    body = _multipart(("a.wav", b"RIFF"))
    assert _post(port, body, extra="Origin: http://evil.example\r\n")[0] == 403
    assert _post(port, body, extra="Origin: http://good.example\r\n")[0] == 422  # admitted: the audio is bad
    assert _post(port, body, extra=f"Origin: http://127.0.0.1:{port}\r\n")[0] == 422


def test_a_422_does_not_echo_its_input(server):
    status, response = _post(server["port"], _multipart(("a.wav", b"RIFF")), path="/predict?threshold=" + "9" * 30_000)
    assert status == 422 and len(response) < 2000


def test_a_slow_body_times_out_and_a_full_queue_answers_before_the_body(server):
    """Medium 3-4: a 1-byte/s client held a worker forever; a full queue answered only after the body."""
    port = server["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as slow:
        slow.sendall(_head(port, 10_000) + b"--" + BOUNDARY.encode())  # then nothing: it holds the one slot
        time.sleep(0.5)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as other:
            other.sendall(_head(port, 500_000))  # headers only: the answer must not wait for the body
            status, response = _response(other)
        assert status == 503 and b"retry-after: " in response.lower()
        assert _response(slow)[0] == 408  # after --read-timeout-s 2

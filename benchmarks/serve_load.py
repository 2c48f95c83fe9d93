"""The server under load (a benchmark, not a test).

Starts the real server (``instrumentid serve``, the default model unless ``--model``) on a free
loopback port, then ``--clients`` concurrent clients (threads, one keep-alive connection each)
post a ``--clip-s`` clip — the bundled example recording, as a 44.1 kHz stereo 16-bit WAV — as
fast as answers come back, for ``--duration-s`` seconds. Reports throughput (requests and
audio seconds per second), latency p50/p95/p99/max, errors by status (a 503 counts as an
error; the client then waits its Retry-After), and the server's peak RSS (VmHWM).
Target on 2 CPU cores with the default model (issue 20): zero errors and p99 < 1 s at 16 clients.

    python benchmarks/serve_load.py [--clients 16] [--duration-s 60] [--clip-s 10]
                                    [--model default] [--workers N] [--queue-size N] [--json out.json]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import soundfile as sf

BOUNDARY = "----instrumentid-load"
#: Issue 20: p99 latency under 16 clients posting 10-s clips, on 2 CPU cores
TARGET_P99_S = 1.0


def clip_wav(seconds: float, sample_rate: int = 44_100) -> bytes:
    """The bundled example (12 s: acoustic guitar, piano, voice), cut or tiled to ``seconds``."""
    with resources.as_file(resources.files("instrumentid") / "assets" / "example.ogg") as path:
        music, rate = sf.read(path, always_2d=True, dtype="float32")
    if rate != sample_rate:
        import soxr

        music = soxr.resample(music, rate, sample_rate)
    frames = int(seconds * sample_rate)
    music = np.tile(music, (frames // len(music) + 1, 1))[:frames]
    buffer = io.BytesIO()
    sf.write(buffer, music, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def multipart(name: str, data: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: argparse.Namespace, port: int) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "instrumentid.cli",
        "serve",
        "--port",
        str(port),
        "--queue-size",
        str(args.queue_size),
    ]
    if args.model:
        command += ["--model", args.model]
    if args.workers:
        command += ["--workers", str(args.workers)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if json.load(response)["status"] == "ok":
                    return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit("the server exited: " + server.stderr.read().decode(errors="replace")) from None
            time.sleep(0.5)
    server.terminate()
    raise SystemExit("the server did not start within 120 s")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Results:
    latencies_s: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, latency_s: float | None, error: str | None = None) -> None:
        with self.lock:
            if error is None:
                self.latencies_s.append(latency_s)
            else:
                self.errors[error] = self.errors.get(error, 0) + 1


def client(port: int, body: bytes, until: float, results: Results) -> None:
    """Post ``body`` back to back until ``until`` (monotonic seconds); one keep-alive connection."""
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            connection.request("POST", "/predict", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            results.add(None, type(exc).__name__)
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            continue
        latency = time.perf_counter() - started
        if response.status == 200 and "scores" in json.loads(payload)[0]:
            results.add(latency)
        else:
            results.add(None, f"HTTP {response.status}")
            if response.status == 503:
                time.sleep(float(response.getheader("Retry-After", "1")))
    connection.close()


def run_load(port: int, body: bytes, clients: int, duration_s: float) -> tuple[Results, float]:
    results = Results()
    until = time.monotonic() + duration_s
    threads = [threading.Thread(target=client, args=(port, body, until, results)) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def report(args: argparse.Namespace, results: Results, elapsed_s: float, rss_mb: float, health: dict) -> dict:
    latencies = np.asarray(results.latencies_s)
    done = latencies.size
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) if done else (float("nan"),) * 3
    summary = {
        "model": args.model or "default",
        "clients": args.clients,
        "duration_s": args.duration_s,
        "clip_s": args.clip_s,
        "workers": health["queue"]["workers"],
        "queue_size": health["queue"]["queue_size"],
        "requests_ok": int(done),
        "errors": dict(results.errors),
        "elapsed_s": round(elapsed_s, 2),
        "throughput_rps": round(done / elapsed_s, 2),
        "audio_s_per_s": round(done * args.clip_s / elapsed_s, 1),
        "latency_s": {
            "p50": round(float(p50), 3),
            "p95": round(float(p95), 3),
            "p99": round(float(p99), 3),
            "max": round(float(latencies.max()), 3) if done else None,
        },
        "peak_rss_mb": round(rss_mb, 1),
    }
    print(
        f"{summary['model']} model, {args.clients} clients x {args.clip_s:g}-s clips for {args.duration_s:g} s, "
        f"{summary['workers']} workers, queue {summary['queue_size']}"
    )
    print(f"  requests ok      {done} ({summary['throughput_rps']} /s, {summary['audio_s_per_s']} s of audio per s)")
    print(f"  errors           {sum(results.errors.values())} {results.errors or ''}")
    print(
        "  latency          p50 {p50:.3f} s   p95 {p95:.3f} s   p99 {p99:.3f} s   max {max} s".format(
            **summary["latency_s"]
        )
    )
    queue = health["queue"]
    if queue.get("batches"):
        summary["mean_batch_windows"] = round(queue["windows"] / queue["batches"], 1)
        print(f"  model batches    {queue['batches']} of {summary['mean_batch_windows']} windows on average")
    print(f"  server peak RSS  {rss_mb:.0f} MB")
    target = not results.errors and done and p99 < TARGET_P99_S
    print(f"  target (no errors, p99 < {TARGET_P99_S:g} s): {'met' if target else 'NOT met'}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default: 16)")
    parser.add_argument("--duration-s", type=float, default=60.0, help="seconds of load (default: 60)")
    parser.add_argument("--clip-s", type=float, default=10.0, help="length of the posted clip (default: 10)")
    parser.add_argument("--model", default=None, help="bundle or bundled name (default: the default model)")
    parser.add_argument("--workers", type=int, default=None, help="server inference threads (default: the server's)")
    parser.add_argument("--queue-size", type=int, default=32, help="server queue size (default: 32)")
    parser.add_argument("--warmup", type=int, default=4, help="requests sent one by one before timing (default: 4)")
    parser.add_argument("--json", default=None, help="also write the summary to this JSON file")
    args = parser.parse_args(argv)
    body = multipart("clip.wav", clip_wav(args.clip_s))
    port = free_port()
    server = start_server(args, port)
    try:
        headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        alone_s = []
        for _ in range(args.warmup):  # first requests pay one-off costs (allocations, thread start)
            request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=body, headers=headers)
            started = time.perf_counter()
            urllib.request.urlopen(request, timeout=120).read()
            alone_s.append(time.perf_counter() - started)
        if alone_s:
            print(f"one request alone (warm-up, best of {args.warmup}): {min(alone_s):.3f} s")
        load_before = os.getloadavg()[0]
        results, elapsed_s = run_load(port, body, args.clients, args.duration_s)
        print(
            f"machine load average (1 min): {load_before:.2f} before the run, {os.getloadavg()[0]:.2f} at its end "
            f"({os.cpu_count()} cores; a load before the run means other work shared them)"
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
            health = json.load(response)
        summary = report(args, results, elapsed_s, peak_rss_mb(server.pid), health)
        summary["one_request_alone_s"] = round(min(alone_s), 3) if alone_s else None
        summary["load_average_before"] = round(load_before, 2)
    finally:
        server.terminate()
        server.wait(timeout=60)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

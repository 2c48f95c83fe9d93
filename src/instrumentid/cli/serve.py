"""``instrumentid serve``: the HTTP server with a web page (needs the ``serve`` extra)."""

from __future__ import annotations

import argparse

from instrumentid.cli import options

#: requests handled at once (measured on 2 cores with 16 clients: 8 beat 4 and 16)
DEFAULT_WORKERS = 8

EXAMPLES = """\
examples:
  instrumentid serve                              # http://127.0.0.1:8000
  instrumentid serve --model my.iid --port 9000
  instrumentid serve --workers 4 --queue-size 8   # 4 requests at once, 8 more may wait
  curl -F files=@song.mp3 'http://127.0.0.1:8000/predict?segments=true'

endpoints: GET / (web page), POST /predict (multipart field 'files'; query segments, threshold),
GET /health, GET /labels, GET /docs (OpenAPI, works offline).
--workers requests are handled at once, their windows scored together in batches by the model
threads (one per core for an ONNX graph); a request arriving while --queue-size more already wait
gets 503 with a Retry-After header.
Ctrl-C / SIGTERM stops accepting and finishes the accepted requests first.
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    options.add_model(parser)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument(
        "--max-upload-mb",
        type=float,
        default=None,
        help="largest upload per file (default: --max-duration-s of 48-kHz 16-bit stereo WAV, "
        "692 MB for an hour; give more for 24-bit or high-rate WAV)",
    )
    parser.add_argument("--max-duration-s", type=float, default=3600.0, help="longest audio per file (default: 3600)")
    parser.add_argument("--max-files", type=_positive_int, default=32, help="most files per request (default: 32)")
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=DEFAULT_WORKERS,
        help="requests handled at once (upload, decoding, windows); the model threads score "
        f"their windows together in batches (default: {DEFAULT_WORKERS})",
    )
    parser.add_argument(
        "--queue-size",
        type=_non_negative_int,
        default=32,
        help="requests that may wait for a free worker; one more gets 503 + Retry-After (default: 32)",
    )
    _add_hardening(parser)


def _add_hardening(parser: argparse.ArgumentParser) -> None:
    """The limits that keep hostile clients from exhausting memory, disk, file descriptors or time."""
    parser.add_argument(
        "--max-request-mb",
        type=float,
        default=None,
        help="largest request body, counted while it streams in: 413 at once past it "
        "(default: the upload cap plus 1 MB)",
    )
    parser.add_argument(
        "--read-timeout-s",
        type=float,
        default=30.0,
        help="longest wait for the next piece of a request body: 408 after it (default: 30)",
    )
    parser.add_argument(
        "--max-connections",
        type=_positive_int,
        default=1000,
        help="open connections at most; one more closes the one that has waited longest for "
        "its request head (default: 1000)",
    )
    parser.add_argument(
        "--header-timeout-s",
        type=float,
        default=10.0,
        help="a connection that has not sent a whole request head this long after it opened "
        "(or after its last response) is closed (default: 10)",
    )
    parser.add_argument(
        "--keep-alive-s", type=float, default=5.0, help="idle keep-alive connections are closed after this (default: 5)"
    )
    parser.add_argument(
        "--shutdown-timeout-s",
        type=float,
        default=30.0,
        help="on SIGTERM, longest wait for accepted requests before closing (default: 30)",
    )
    parser.add_argument(
        "--allowed-hosts",
        nargs="+",
        metavar="HOST",
        default=None,
        help="Host headers answered (DNS rebinding); default: the --host address and localhost",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a site (https://example.org) whose pages may POST here; repeatable (default: none)",
    )


def _allowed_hosts(args: argparse.Namespace) -> list[str]:
    return args.allowed_hosts or sorted({args.host, "localhost", "127.0.0.1", "::1"})


def run(args: argparse.Namespace) -> int:
    from instrumentid.extras import need

    uvicorn = need("uvicorn", "the server")
    need("fastapi", "the server")
    from instrumentid.inference.predictor import Predictor
    from instrumentid.serve import Limits, create_app
    from instrumentid.serve.connections import guarded_protocol

    limits = Limits(
        max_upload_mb=args.max_upload_mb,
        max_duration_s=args.max_duration_s,
        max_files=args.max_files,
        max_request_mb=args.max_request_mb,
        read_timeout_s=args.read_timeout_s,
    )
    app = create_app(
        Predictor.from_bundle(args.model),
        limits,
        workers=args.workers,
        queue_size=args.queue_size,
        allowed_hosts=_allowed_hosts(args),
        cors_origins=tuple(args.cors_origin),
    )
    _raise_file_limit(args.max_connections)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="info",
        http=guarded_protocol(header_timeout_s=args.header_timeout_s, max_connections=args.max_connections),
        timeout_keep_alive=args.keep_alive_s,
        timeout_graceful_shutdown=args.shutdown_timeout_s,
        h11_max_incomplete_event_size=64 * 1024,
    )
    return 0


def _raise_file_limit(max_connections: int) -> None:
    """Let the process hold ``max_connections`` sockets plus its own files (within the hard limit):
    past the soft limit, accepting fails and the server stops answering for a while."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard)
        )

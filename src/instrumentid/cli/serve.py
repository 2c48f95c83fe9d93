"""``instrumentid serve``: the HTTP server with a web page (needs the ``serve`` extra)."""

from __future__ import annotations

import argparse

from instrumentid.cli import options

EXAMPLES = """\
examples:
  instrumentid serve                              # http://127.0.0.1:8000
  instrumentid serve --model my.iid --port 9000
  curl -F files=@song.mp3 'http://127.0.0.1:8000/predict?segments=true'

endpoints: GET / (web page), POST /predict (multipart field 'files'; query segments, threshold),
GET /health, GET /labels, GET /docs (OpenAPI).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    options.add_model(parser)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument("--max-upload-mb", type=float, default=100.0, help="largest upload per file (default: 100)")
    parser.add_argument("--max-duration-s", type=float, default=3600.0, help="longest audio per file (default: 3600)")


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from instrumentid.serve import Limits, create_app
    except ImportError as exc:
        from instrumentid.errors import ConfigError

        raise ConfigError(f"the server needs the 'serve' extra: pip install 'instrumentid[serve]' ({exc.name} missing)") from None
    from instrumentid.predict import Predictor

    app = create_app(Predictor.from_bundle(args.model),
                     Limits(max_upload_mb=args.max_upload_mb, max_duration_s=args.max_duration_s))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0

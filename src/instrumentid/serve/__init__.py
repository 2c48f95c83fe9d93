"""HTTP server: ``create_app(predictor)`` builds the FastAPI app (see :mod:`instrumentid.serve.app`)."""

from instrumentid.serve.app import Limits, create_app

__all__ = ["Limits", "create_app"]

"""The ``nasgcn`` command line. See :mod:`predictor.cli.main`."""

from .main import main

__all__ = ["main"]

"""nasgcn's supernet package: weight-sharing models, samplers, training, evaluation,
Supernet Shifting and stand-alone retraining. May import :mod:`predictor`."""

__version__ = "0.1.0"

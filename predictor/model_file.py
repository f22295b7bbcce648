"""Reading a saved GCN model (``MODEL`` weights + ``MODEL.json`` config) with one clear error per problem.

Why: a model is two files a user can edit, truncate or mix up. Without these checks a config of
``[1, 2, 3]`` failed with ``AttributeError: 'list' object has no attribute 'get'``, edited shapes with
40 lines of torch's ``size mismatch`` report, a foreign weights file with torch's advice to re-run with
``weights_only=False`` (which would execute code from the file), and NaN statistics gave a table of
empty predictions with exit code 0. Here every problem is one :class:`~predictor.errors.NasgcnError`
that names the file and says what to do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import NasgcnError
from .io import check_sidecar

__all__ = [
    "load_error_reason",
    "load_member_state",
    "read_model_config",
    "read_model_weights",
    "strip_weights_only_advice",
]

_REFIT = "fit the model again, or restore both files from the same 'nasgcn fit'"


def _bad(path: Path, problem: str) -> NasgcnError:
    return NasgcnError(f"{path}: {problem} ({_REFIT})")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite_list(cfg_path: Path, cfg: Mapping[str, Any], key: str, length: int | None, positive: bool = False) -> None:
    value = cfg.get(key)
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):  # rows, e.g. (2, G)
        value = [x for row in value for x in row]
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise _bad(cfg_path, f"'{key}' must be a list of numbers, got {json.dumps(value)[:60]}")
    if length is not None and len(value) != length:
        raise _bad(cfg_path, f"'{key}' has {len(value)} values, expected {length}")
    if not all(math.isfinite(v) for v in value):
        raise _bad(cfg_path, f"'{key}' holds a non-finite value (NaN or infinity): {value}")
    if positive and not all(v > 0 for v in value):
        raise _bad(cfg_path, f"'{key}' must be positive (standard deviations), got {value}")


def read_model_config(cfg_path: str | Path, format_version: int, param_names: Iterable[str]) -> dict[str, Any]:
    """The parsed ``MODEL.json``: a JSON object with every key :meth:`GCNPredictor.load` uses, well typed.

    ``param_names``: the estimator's constructor parameters (an unknown one is refused, not a TypeError).
    """
    cfg_path = Path(cfg_path)
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise _bad(cfg_path, "not a text file (a model config is JSON)") from None
    except json.JSONDecodeError as err:
        raise _bad(cfg_path, f"not valid JSON (line {err.lineno}: {err.msg})") from None
    if not isinstance(cfg, dict):
        raise _bad(cfg_path, f"expected a JSON object (a GCNPredictor config), got a {type(cfg).__name__}")
    if cfg.get("format") != "nasgcn.GCNPredictor":
        raise _bad(cfg_path, 'not a GCNPredictor config (no "format": "nasgcn.GCNPredictor")')
    version = cfg.get("format_version", 0)
    if not _is_int(version):
        raise _bad(cfg_path, f"'format_version' must be an integer, got {version!r}")
    if version > format_version:
        raise NasgcnError(f"{cfg_path}: format version {version} is newer than this nasgcn (upgrade nasgcn)")
    params = cfg.get("params")
    if not isinstance(params, dict):
        raise _bad(cfg_path, "'params' must be a JSON object of the estimator's parameters")
    unknown = sorted(set(params) - set(param_names))
    if unknown:
        raise _bad(cfg_path, f"unknown parameter(s) {', '.join(unknown)} in 'params'")
    for key in ("hidden", "num_layers", "ensemble"):
        if key in params and (not _is_int(params[key]) or params[key] < 1):
            raise _bad(cfg_path, f"params.{key} must be a positive integer, got {params[key]!r}")
    features = params.get("global_features")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise _bad(cfg_path, "params.global_features must be a list of feature names")
    for key in ("n_train", "seed", "n_sources", "n_epochs", "best_epoch"):
        if not _is_int(cfg.get(key)):
            raise _bad(cfg_path, f"'{key}' must be an integer, got {cfg.get(key)!r}")
    if cfg["n_sources"] < 1:
        raise _bad(cfg_path, f"'n_sources' must be >= 1, got {cfg['n_sources']}")
    if not isinstance(cfg.get("data_sha256"), str):
        raise _bad(cfg_path, "'data_sha256' must be a string")
    anchor = cfg.get("anchor_source", 0)
    if not _is_int(anchor) or not 0 <= anchor < cfg["n_sources"]:
        raise _bad(cfg_path, f"'anchor_source' must be a source index below {cfg['n_sources']}, got {anchor!r}")
    _finite_list(cfg_path, cfg, "source_mean", cfg["n_sources"])
    _finite_list(cfg_path, cfg, "source_std", cfg["n_sources"], positive=True)
    _finite_list(cfg_path, cfg, "feat_mean", len(features))
    _finite_list(cfg_path, cfg, "feat_std", len(features), positive=True)
    for key, length in (("feature_range", 2 * len(features)), ("train_feature_range", 2 * len(features))):
        if cfg.get(key) is not None:
            _finite_list(cfg_path, cfg, key, length)
    if cfg.get("label_range") is not None:
        _finite_list(cfg_path, cfg, "label_range", 2)
    for key in ("meta", "measured"):
        if cfg.get(key) is not None and not isinstance(cfg[key], dict):
            raise _bad(cfg_path, f"'{key}' must be a JSON object")
    return cfg  # its record of the weights' hash is checked by read_model_weights


def load_error_reason(err: BaseException) -> str:
    """A short reason for a failed ``torch.load``, without torch's advice to retry with ``weights_only=False``.

    That advice means "run whatever code the file holds"; nasgcn never does, so it is never shown.
    """
    text = str(err).strip()
    first = text.splitlines()[0] if text else ""
    if "weights_only" in text or "Weights only load failed" in text or not first:
        return f"{type(err).__name__}: not a plain tensor archive"
    return f"{type(err).__name__}: {first}"


def strip_weights_only_advice(message: str) -> str:
    """``message`` with torch's "Weights only load failed ... weights_only=False ..." text replaced (CLI errors)."""
    start = message.find("Weights only load failed")
    if start < 0 and "weights_only" not in message:
        return message
    head = message[:start] if start >= 0 else message.split("weights_only")[0]
    end = message.find("torch.load.html", start)  # torch's text ends with its documentation link
    tail = message[end + len("torch.load.html") :].lstrip(".").lstrip() if end >= 0 else ""
    tail = tail[1:] if tail.startswith(")") else tail
    return head.rstrip(" (:") + ": not a plain tensor archive (nasgcn loads tensors only, never code)" + tail


def read_model_weights(
    path: str | Path, map_location: Any, cfg: Mapping[str, Any] | None = None, cfg_path: str | Path | None = None
) -> dict[str, Any]:
    """The weights file as a dict of finite tensors (``torch.load(weights_only=True)``: no code runs).

    A foreign or corrupt file gets one line, never torch's advice to load it with ``weights_only=False``.
    With ``cfg``, the weights must be the file its record names (size and sha256; the config is written
    first, so weights and config of two different saves are caught even when their shapes agree).
    """
    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - corrupt, truncated or foreign file
        raise _bad(
            path, f"not a model weights file written by 'nasgcn fit' (torch cannot read it: {load_error_reason(err)})"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise _bad(path, f"expected a dict of named tensors, got {type(state).__name__}")
    if not any(k.startswith("members.") for k in state) or "calibration" not in state:
        raise _bad(path, "not GCNPredictor weights (no 'members.*' and 'calibration' tensors)")
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise _bad(path, f"entry {name!r} is a {type(value).__name__}, not a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise _bad(path, f"tensor {name!r} holds non-finite values (NaN or infinity)")
    if cfg is not None:
        check_sidecar(path, cfg, cfg_path if cfg_path is not None else f"{path}.json")
    return state


def load_member_state(members: Any, state: Mapping[str, Any], path: str | Path, cfg_path: str | Path) -> None:
    """Load the ``members.*`` tensors into ``members``; a shape or name mismatch is one line naming both files."""
    prefix = "members."
    own = members.state_dict()
    given = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    missing = sorted(set(own) - set(given))
    extra = sorted(set(given) - set(own))
    if missing or extra:
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        n = len(missing) + len(extra)
        raise NasgcnError(
            f"{path}: its tensors do not fit the network described by {cfg_path} ({what}"
            f"{f' and {n - 1} more' if n > 1 else ''}) ({_REFIT})"
        )
    wrong = [k for k in own if tuple(own[k].shape) != tuple(given[k].shape)]
    if wrong:
        k = wrong[0]
        raise NasgcnError(
            f"{path}: its tensors do not fit the network described by {cfg_path} ({k}: "
            f"{tuple(given[k].shape)} in the weights, {tuple(own[k].shape)} from the config"
            f"{f'; {len(wrong) - 1} more' if len(wrong) > 1 else ''}) ({_REFIT})"
        )
    members.load_state_dict(given)

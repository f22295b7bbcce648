"""Fused CPU kernels for :meth:`predictor.nn.CellGCN.forward_compact` (numba; torch fallback when absent).

Why: after the projection GEMM, a compact-plan layer is a weighted gather-sum, a bias, a LayerNorm, a ReLU
and a residual add per new state. Done as separate torch ops over blocks of rows, each op streams the
states once more and LayerNorm over 32 features runs well below the machine's speed; the whole-space
prediction spent three quarters of its time there. One compiled loop per row does all of it while the
row sits in registers (measured: ``benchmarks/predictor_nb201.py --sections speed``).

The kernels are compiled on first use and cached on disk (numba ``cache=True``). ``fastmath`` lets the
compiler vectorize the row sums; results agree with the torch ops to float32 rounding (tested).

numba itself is imported on the first kernel call, not with this module: importing it costs 0.3-0.5 s
of CPU and loading the cached kernels another 0.4-0.5 s (numba rebuilds its typing registries), while
a whole-space prediction gains about 10 ms from them. So a process that predicts many times (search
loops, benchmarks, notebooks) gains, a one-shot command loses: the ``nasgcn`` CLI therefore runs with
``NASGCN_NO_NUMBA=1`` unless the user sets that variable (measured: ``benchmarks/cli_startup.py``).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
from collections.abc import Callable

import numpy as np

__all__ = ["HAVE_NUMBA", "fused_available", "gcn_layer", "readout"]

# numba is a dependency, but the package must still work where it is missing; found without importing it.
HAVE_NUMBA = importlib.util.find_spec("numba") is not None


def fused_available() -> bool:
    """True when the fused kernels can run (numba installed and ``NASGCN_NO_NUMBA`` unset or ``0``)."""
    return HAVE_NUMBA and os.environ.get("NASGCN_NO_NUMBA", "") in ("", "0")


def _gcn_layer(proj, index, offsets, weight, residual, prev, gamma, beta, eps, out):  # pragma: no cover - compiled
    """``out[i] = prev[residual[i]] + relu(LN(sum_j weight[j] proj[index[j]]))`` over j in row i's span.

    ``proj`` (3R, H) already holds each state's three projections, bias included in the self rows; row i's
    terms are ``offsets[i]:offsets[i + 1]`` (the last row runs to the end of ``index``).
    """
    n, h = out.shape
    total = index.shape[0]
    acc = np.empty(h, dtype=np.float32)
    for i in range(n):
        start = offsets[i]
        stop = offsets[i + 1] if i + 1 < n else total
        acc[:] = 0.0
        for j in range(start, stop):
            w = weight[j]
            src = index[j]
            for c in range(h):
                acc[c] += w * proj[src, c]
        mu = np.float32(0.0)
        for c in range(h):
            mu += acc[c]
        mu /= h
        var = np.float32(0.0)
        for c in range(h):
            d = acc[c] - mu
            acc[c] = d
            var += d * d
        scale = np.float32(1.0 / math.sqrt(var / h + eps))
        q = residual[i]
        for c in range(h):
            y = acc[c] * scale * gamma[c] + beta[c]
            out[i, c] = prev[q, c] + max(y, np.float32(0.0))


def _readout(states, rows, num_nodes, z):  # pragma: no cover - compiled
    """``z[b, :H]`` = output node's state (last of the group), ``z[b, H:2H]`` = mean over the group's nodes."""
    n = z.shape[0]
    h = states.shape[1]
    inv = np.float32(1.0 / num_nodes)
    for b in range(n):
        base = b * num_nodes
        last = rows[base + num_nodes - 1]
        for c in range(h):
            z[b, c] = states[last, c]
            z[b, h + c] = 0.0
        for v in range(num_nodes):
            r = rows[base + v]
            for c in range(h):
                z[b, h + c] += states[r, c]
        for c in range(h):
            z[b, h + c] *= inv


@functools.cache
def _compiled() -> tuple[Callable[..., None], Callable[..., None]]:
    """The two kernels, compiled (or loaded from numba's on-disk cache) on first use."""
    try:
        import numba
    except Exception as err:  # pragma: no cover - installed but broken numba
        raise RuntimeError(f"numba cannot be imported ({err}); set NASGCN_NO_NUMBA=1 to use the torch ops") from err
    try:  # the on-disk cache needs a writable folder (next to this file or numba's user cache)
        return (
            numba.njit(cache=True, fastmath=True, nogil=True)(_gcn_layer),
            numba.njit(cache=True, fastmath=True, nogil=True)(_readout),
        )
    except RuntimeError:  # pragma: no cover - read-only installs: compile in every process instead
        return numba.njit(fastmath=True, nogil=True)(_gcn_layer), numba.njit(fastmath=True, nogil=True)(_readout)


def gcn_layer(
    proj: np.ndarray,
    index: np.ndarray,
    offsets: np.ndarray,
    weight: np.ndarray,
    residual: np.ndarray,
    prev: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    eps: float,
    out: np.ndarray,
) -> None:
    """One compact-plan layer into ``out`` (float32 arrays; see the module docstring)."""
    _compiled()[0](proj, index, offsets, weight, residual, prev, gamma, beta, np.float32(eps), out)


def readout(states: np.ndarray, rows: np.ndarray, num_nodes: int, z: np.ndarray) -> None:
    """Output-node state and node mean of every input row into the first ``2H`` columns of ``z``."""
    _compiled()[1](states, rows, np.int64(num_nodes), z)

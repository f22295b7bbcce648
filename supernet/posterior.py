"""Candidates drawn from what a strategy learned about the space, scored as an evaluation log.

PGNAS (:mod:`supernet.strategies.pgnas`) learns a keep probability per (slot, op); HOPNAS
(:mod:`supernet.strategies.hopnas`) learns which ops survive. Both give per-slot op
probabilities (:meth:`~supernet.samplers.ArchSampler.op_probs`: PGNAS's keep probabilities
normalised per slot, HOPNAS's uniform over the surviving ops). ``nasgcn supernet posterior RUN
--sample C --out EVALS.csv`` draws ``C`` distinct architectures (one op per slot, independently
per slot; repeats are redrawn) and scores them with the supernet's weights exactly as ``supernet
eval`` does (:func:`supernet.evaluate.evaluate_run`), so the log has the same columns and ``nasgcn
fit`` reads it; the probabilities go into the log's ``.meta.json`` (``posterior``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from predictor.errors import NasgcnError
from predictor.io import write_json_atomic
from predictor.spaces import SearchSpace, get_space

from .evaluate import EvalResult, evaluate_run
from .samplers import make_sampler
from .train import TrainConfig, checkpoint_space, load_checkpoint


def load_posterior(run_dir: str | Path, space: str | SearchSpace | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Per (slot, op) probabilities (rows sum to 1) of a PGNAS or HOPNAS run, and what they come from."""
    ckpt = load_checkpoint(run_dir)
    recorded = checkpoint_space(ckpt)
    sp = get_space(space or recorded)
    sp.check_compatible(recorded, f"supernet run {run_dir}")
    cfg = TrainConfig.from_dict(ckpt["config"], str(run_dir))
    sampler = make_sampler(cfg.sampler, cfg.seed, space=recorded, **cfg.sampler_kwargs())
    sampler.load_state_dict(ckpt["sampler"])
    probs = sampler.op_probs()
    if probs is None:
        raise NasgcnError(
            f"{run_dir}: trained with sampler {cfg.sampler!r}, which learns no posterior over architectures "
            "(train with `nasgcn supernet train --sampler pgnas` (or hopnas: its surviving space), or score "
            "random architectures with `nasgcn supernet eval RUN --sample N`)"
        )
    info = {
        "sampler": cfg.sampler,
        "checkpoint": ckpt["checkpoint_id"],
        "space": recorded,
        "ops": list(sp.ops),
        "slots": list(sp.slot_names),
        "op_probs": np.round(probs, 6).tolist(),
        **{k: v for k, v in sampler.summary().items() if k in ("keep_probs", "surviving", "forward_cost")},
    }
    return probs, info


def surviving_ops(run_dir: str | Path) -> np.ndarray | None:
    """The ``(slots, ops)`` mask of ops a HOPNAS run kept (None for runs that prune nothing).

    For callers that should stay inside the surviving space (e.g. choosing what to evaluate).
    """
    return checkpoint_surviving(load_checkpoint(run_dir))


def checkpoint_surviving(ckpt: dict[str, Any]) -> np.ndarray | None:
    """:func:`surviving_ops` of a checkpoint already loaded."""
    alive = ckpt.get("sampler", {}).get("alive") if isinstance(ckpt.get("sampler"), dict) else None
    return None if alive is None else np.asarray(alive, dtype=bool)


def support_size(probs: np.ndarray) -> float:
    """How many architectures have a positive probability."""
    return float(np.prod((probs > 0).sum(1).astype(np.float64)))


def sample_posterior(probs: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` distinct architectures ``(n, slots)``: each slot's op drawn from its row of ``probs``.

    Repeats are redrawn, so with ``n`` near the support size the sample flattens towards uniform.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if n < 1:
        raise NasgcnError("--sample needs a positive number of architectures")
    if n > support_size(probs):
        raise NasgcnError(
            f"cannot draw {n} distinct architectures: the posterior puts mass on only {support_size(probs):.0f} "
            "(lower --sample)"
        )
    rng = np.random.default_rng(seed)
    cum = np.cumsum(probs / probs.sum(1, keepdims=True), axis=1)
    rows: list[np.ndarray] = []
    seen: set[bytes] = set()
    for _ in range(1000):
        u = rng.random((max(2 * n, 64), probs.shape[0], 1))
        draw = (u > cum[None]).sum(2).clip(max=probs.shape[1] - 1).astype(np.int64)
        for row in draw:
            key = row.tobytes()
            if key not in seen:
                seen.add(key)
                rows.append(row)
                if len(rows) == n:
                    return np.stack(rows)
    raise NasgcnError(f"could not draw {n} distinct architectures from the posterior (lower --sample)")


def format_probs(info: dict[str, Any]) -> str:
    """A table of op probabilities per slot (``--show``)."""
    ops, slots, probs = info["ops"], info["slots"], np.asarray(info["op_probs"])
    width = max(len(s) for s in slots)
    cols = [max(len(o), 6) for o in ops]
    lines = [f"posterior of {info['checkpoint']} ({info['sampler']}): op probabilities per slot"]
    lines.append(" " * width + "  " + "  ".join(o.rjust(c) for o, c in zip(ops, cols, strict=True)))
    for s, row in zip(slots, probs, strict=True):
        lines.append(s.ljust(width) + "  " + "  ".join(f"{p:.3f}".rjust(c) for p, c in zip(row, cols, strict=True)))
    return "\n".join(lines)


def posterior_run(
    run_dir: str | Path,
    n: int,
    out: str | Path | None = None,
    seed: int = 0,
    max_images: int | None = 1000,
    batch_size: int = 500,
    device: str = "cpu",
    data_root: str | None = None,
    progress: bool = True,
    space: str | None = None,
    jobs: int = 1,
) -> EvalResult:
    """Draw ``n`` architectures from the run's posterior, score them like ``supernet eval``, write the log."""
    probs, info = load_posterior(run_dir, space)
    ids = sample_posterior(probs, n, seed)
    result = evaluate_run(run_dir, ids, out, max_images, batch_size, device, data_root, progress=progress, jobs=jobs)
    logp = np.log(np.clip(probs[np.arange(probs.shape[0]), ids], 1e-300, None)).sum(1)
    result.protocol["posterior"] = {**info, "seed": seed, "draws": int(n)}
    result.protocol["posterior_log_prob"] = np.round(logp, 6).tolist()
    if out is not None:
        meta_path = Path(str(out) + ".meta.json")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta["posterior"] = result.protocol["posterior"]
        meta["posterior_log_prob"] = result.protocol["posterior_log_prob"]
        write_json_atomic(meta_path, meta)
    return result

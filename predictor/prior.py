"""IRLAS topology prior: a reward on architecture topology learned from expert networks by inverse RL.

IRLAS (Guo et al., CVPR 2019) learns a "mirror stimuli" function from the topology of
hand-designed networks and adds it to the search reward, so the search prefers topologies that
look like the experts' (regular, shallow-but-residual, fast). Here:

* **Topology features** (:func:`topology_features`, space-generic): computed from the space's graph
  view (``adjacency`` + ``node_types`` + ``node_type_names``) and op ids only, never from a space's
  module: the share of each op, the share of parametric / identity / pooling / zero nodes, the
  number of input-to-output paths, of parameter-free (skip) paths and whether one exists
  (residual-ness), the longest and shortest number of parametric nodes on a path (depth), op
  diversity (distinct ops, entropy), and regularity (adjacent slots of a stage with the same op,
  the same kernel; mean kernel and expansion, parsed from op names such as ``nor_conv_3x3``,
  ``k5_e6``, ``mb6_k5``). Features are standardized over a seeded uniform sample of the space.
* **Reward** ``r(x) = w . phi(x)`` with ``||w|| = 1``, learned by feature-expectation matching with
  the projection method of Abbeel & Ng (2004): policies are softmax distributions (inverse
  temperature ``beta``) over a candidate set (the space's classes when enumerable, else a sample)
  under the current reward; the projection of the experts' feature expectation onto the hull of
  the policies' ones gives the next ``w``, until the margin ``t = ||mu_E - mu_bar||`` stops shrinking.
  The reward returned is the ``w`` whose own policy comes closest to the experts' feature
  expectation (``policy_gap_``), not the last residual: when one policy already matches the
  experts the residual is ~0 and its direction is rounding noise.
* **Chain spaces** add their macro topology, where the blocks sit: expansion and kernel of the
  stride-changing first layer of each stage against the other layers, and the share of real
  (parametric) layers in each stage. MobileNetV2 expands at every stage entry; position-blind
  features could only say "big blocks everywhere", which in a chain space is the cost itself.
* **Use**: :meth:`IRLASPrior.reward` is standardized (mean 0, sd 1 over the candidates), so a
  search objective ``pred + W * reward`` (``nasgcn search --prior EXPERTS.txt --prior-weight W``)
  trades W points of predicted accuracy per standard deviation of the prior. Off by default.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ArchitectureError, NasgcnError
from .spaces import SearchSpace, get_space

IDENTITY_NAMES = ("skip", "skip_connect", "identity")
_KERNEL = (re.compile(r"(\d+)x\d+"), re.compile(r"(?:^|_)k(\d+)"))
_EXPANSION = (re.compile(r"(?:^|_)e(\d+)"), re.compile(r"^mb(\d+)"))


def _op_name(node_type_name: str) -> str:
    return node_type_name.rsplit(":", 1)[-1].strip().lower()


def _parse_int(name: str, patterns: tuple[re.Pattern[str], ...]) -> int:
    for pat in patterns:
        m = pat.search(name)
        if m:
            return int(m.group(1))
    return 0


def _node_kinds(sp: SearchSpace) -> dict[str, np.ndarray]:
    """Per node type: is it parametric / identity / pooling / zero, and its kernel and expansion."""
    names = [_op_name(n) for n in sp.node_type_names]
    zero = np.zeros(len(names), dtype=bool)
    zero[list(sp.zero_node_types)] = True
    io = np.array([n in ("input", "output") for n in names])
    ident = np.array([n in IDENTITY_NAMES for n in names]) & ~zero
    pool = np.array(["pool" in n for n in names]) & ~zero
    param = ~(zero | io | ident | pool)
    kernel = np.array([_parse_int(n, _KERNEL) if p else 0 for n, p in zip(names, param, strict=True)], float)
    expansion = np.array([_parse_int(n, _EXPANSION) if p else 0 for n, p in zip(names, param, strict=True)], float)
    return {"zero": zero, "identity": ident, "pool": pool, "param": param, "kernel": kernel, "expansion": expansion}


def _topological_order(adj: np.ndarray) -> list[int]:
    n = adj.shape[0]
    if not np.triu(adj, 1).any() or np.allclose(adj, np.triu(adj, 1)):
        return list(range(n))
    indeg = (adj > 0).sum(axis=0)
    order, ready = [], [i for i in range(n) if indeg[i] == 0]
    while ready:
        u = ready.pop(0)
        order.append(u)
        for v in np.flatnonzero(adj[u] > 0).tolist():
            indeg[v] -= 1
            if indeg[v] == 0:
                ready.append(v)
    if len(order) != n:
        raise NasgcnError("the space's graph view has a cycle; topology features need a DAG")
    return order


def feature_names(space: SearchSpace | str) -> list[str]:
    """Names of the columns of :func:`topology_features` for ``space``."""
    sp = get_space(space)
    return [f"share_{op}" for op in sp.ops] + [
        "share_param", "share_identity", "share_pool", "share_zero",
        "log_paths", "log_skip_paths", "has_skip_path", "depth_max", "depth_min",
        "distinct_ops", "op_entropy", "same_op_adjacent", "same_kernel_adjacent", "mean_kernel", "mean_expansion",
    ] + _stage_feature_names(sp)  # fmt: skip


def _stages(sp: SearchSpace) -> np.ndarray | None:
    """Stage of each slot for a space whose slots form stages (chain spaces), else ``None``."""
    stage = getattr(sp, "stage_of_slot", None)
    if stage is None:
        return None
    stage = np.asarray(stage)
    return stage if len(np.unique(stage)) > 1 else None


def _stage_feature_names(sp: SearchSpace) -> list[str]:
    stage = _stages(sp)
    if stage is None:
        return []
    names = ["entry_expansion", "inner_expansion", "entry_kernel", "inner_kernel"]
    return names + [f"depth_stage{int(s)}" for s in np.unique(stage)]


def topology_features(space: SearchSpace | str, ids: np.ndarray) -> np.ndarray:
    """Raw topology features ``(n, len(feature_names(space)))`` of op-id rows (see the module docstring)."""
    sp = get_space(space)
    ids = sp.validate_ids(np.atleast_2d(ids))
    n, k = ids.shape
    n_ops = len(sp.ops)
    kinds = _node_kinds(sp)
    types = sp.node_types(ids)
    adj = np.asarray(sp.adjacency) > 0
    N = adj.shape[0]
    zero, param, ident, pool = (kinds[c][types] for c in ("zero", "param", "identity", "pool"))
    alive = ~zero
    share = np.stack([(ids == o).mean(axis=1) for o in range(n_ops)], axis=1)
    op_nodes = (param | ident | pool | zero).sum(axis=1).clip(min=1)
    shares = np.stack([param.sum(1), ident.sum(1), pool.sum(1), zero.sum(1)], axis=1) / op_nodes[:, None]
    # paths through alive nodes, in topological order; sources have no predecessor
    order = _topological_order(adj.astype(float))
    paths = np.zeros((n, N))
    skip = np.zeros((n, N))  # paths without a parametric node
    deep = np.full((n, N), -np.inf)  # most parametric nodes on a path reaching the node
    shallow = np.full((n, N), np.inf)
    for v in order:
        preds = np.flatnonzero(adj[:, v])
        pv = param[:, v].astype(float)
        if preds.size == 0:
            paths[:, v] = alive[:, v]
            skip[:, v] = alive[:, v] & ~param[:, v]
            deep[:, v] = np.where(alive[:, v], pv, -np.inf)
            shallow[:, v] = np.where(alive[:, v], pv, np.inf)
            continue
        paths[:, v] = np.where(alive[:, v], paths[:, preds].sum(axis=1), 0.0)
        skip[:, v] = np.where(alive[:, v] & ~param[:, v], skip[:, preds].sum(axis=1), 0.0)
        reach = paths[:, preds] > 0
        d = np.where(reach, deep[:, preds], -np.inf).max(axis=1)
        s = np.where(reach, shallow[:, preds], np.inf).min(axis=1)
        deep[:, v] = np.where(alive[:, v] & np.isfinite(d), d + pv, -np.inf)
        shallow[:, v] = np.where(alive[:, v] & np.isfinite(s), s + pv, np.inf)
    sink = order[-1]
    n_paths = paths[:, sink]
    has = n_paths > 0
    depth_max = np.where(has, deep[:, sink], 0.0) / k
    depth_min = np.where(has, shallow[:, sink], 0.0) / k
    used = share > 0
    distinct = used.sum(axis=1) / n_ops
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(used, share * np.log(np.where(used, share, 1.0)), 0.0).sum(axis=1) / np.log(n_ops)
    # regularity of consecutive slots (within a stage when the space has stages)
    stage = np.asarray(getattr(sp, "stage_of_slot", np.zeros(k, dtype=np.int64)))
    same_stage = stage[1:] == stage[:-1]
    op_kernel = np.zeros(n_ops)
    op_exp = np.zeros(n_ops)
    op_param = np.zeros(n_ops, dtype=bool)
    names = [_op_name(o) for o in sp.ops]
    for o, name in enumerate(names):
        op_param[o] = name not in IDENTITY_NAMES and "pool" not in name and name not in ("none", "zero")
        op_kernel[o] = _parse_int(name, _KERNEL) if op_param[o] else 0
        op_exp[o] = _parse_int(name, _EXPANSION) if op_param[o] else 0
    if same_stage.any():
        same_op = (ids[:, 1:] == ids[:, :-1])[:, same_stage].mean(axis=1)
        kk = op_kernel[ids]
        same_k = (kk[:, 1:] == kk[:, :-1])[:, same_stage].mean(axis=1)
    else:
        same_op = same_k = np.zeros(n)
    kmax, emax = max(op_kernel.max(), 1.0), max(op_exp.max(), 1.0)
    mean_k = op_kernel[ids].mean(axis=1) / kmax
    mean_e = op_exp[ids].mean(axis=1) / emax
    cols = [
        share, shares, np.log1p(n_paths), np.log1p(skip[:, sink]), (skip[:, sink] > 0).astype(float),
        depth_max, depth_min, distinct, ent, same_op, same_k, mean_k, mean_e,
    ]  # fmt: skip
    stages = _stages(sp)
    if stages is not None:
        # where a chain network spends its blocks: the stride-changing first layer of each stage
        # against the rest, and how deep each stage is (MobileNet-style macro topology)
        entry = np.r_[True, stages[1:] != stages[:-1]]
        kk, ee, pp = op_kernel[ids] / kmax, op_exp[ids] / emax, op_param[ids].astype(float)
        cols += [ee[:, entry].mean(1), ee[:, ~entry].mean(1), kk[:, entry].mean(1), kk[:, ~entry].mean(1)]
        cols += [pp[:, stages == s].mean(1) for s in np.unique(stages)]
    feats = np.column_stack(cols)
    return feats.astype(np.float64)


def read_experts(path: str | os.PathLike, space: SearchSpace | str) -> np.ndarray:
    """Op ids of the expert architectures in ``path``: one architecture string a line (``#`` comments).

    A malformed line raises :class:`NasgcnError` naming ``file:line`` and the expected form.
    """
    sp = get_space(space)
    p = Path(path)
    if not p.exists():
        raise NasgcnError(f"{p}: no such experts file (one architecture string per line)")
    rows = []
    for lineno, line in enumerate(p.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            rows.append(sp.parse(text.split(",")[0].strip()))
        except ArchitectureError as exc:
            raise NasgcnError(f"{p}:{lineno}: not a {sp.name} architecture ({exc})") from exc
    if not rows:
        raise NasgcnError(f"{p}: no expert architecture found (write one {sp.name} architecture string per line)")
    return np.asarray(rows, dtype=np.int64)


@dataclass
class IRLASPrior:
    """A linear topology reward fitted to expert architectures (see the module docstring).

    Parameters: ``beta`` the inverse temperature of the softmax policies (on the unit-norm reward
    of standardized features), ``max_iter`` / ``tol`` of the projection method, ``n_candidates``
    the sample size when the space cannot be enumerated, ``random_state`` its seed.
    After :meth:`fit`: ``weights_`` (unit norm; zero when the experts look like the average
    architecture), ``margins_`` (``t`` per iteration), ``policy_gap_`` (distance of the chosen
    reward's policy to the experts' feature expectation), ``expert_mu_``
    and ``policy_mu_`` (the matched feature expectation), ``names_``.
    """

    space: str = "nb201"
    beta: float = 3.0
    max_iter: int = 50
    tol: float = 1e-3
    n_candidates: int = 8192
    random_state: int = 0
    weights_: np.ndarray | None = field(default=None, repr=False)
    margins_: list[float] = field(default_factory=list, repr=False)

    def _candidates(self, sp: SearchSpace) -> np.ndarray:
        if sp.enumerable and sp.num_unique is not None and sp.num_unique <= 4 * self.n_candidates:
            return sp.unique_ids()
        return sp.sample(self.n_candidates, np.random.default_rng(self.random_state))

    def _standardize(self, raw: np.ndarray) -> np.ndarray:
        return (raw - self.mean_) / self.scale_

    def fit(self, experts: np.ndarray | list[str]) -> IRLASPrior:
        """Learn ``w`` so that the softmax policy's feature expectation matches the experts'."""
        sp = get_space(self.space)
        if self.beta <= 0:
            raise NasgcnError(f"beta (inverse temperature) must be positive, got {self.beta}")
        ex = sp.encode(experts) if not isinstance(experts, np.ndarray) else sp.validate_ids(np.atleast_2d(experts))
        if ex.shape[0] == 0:
            raise NasgcnError("the IRLAS prior needs at least one expert architecture")
        cand = self._candidates(sp)
        raw = topology_features(sp, cand)
        self.mean_ = raw.mean(axis=0)
        sd = raw.std(axis=0)
        self.scale_ = np.where(sd > 1e-12, sd, 1.0)
        phi = self._standardize(raw)
        mu_e = self._standardize(topology_features(sp, ex)).mean(axis=0)
        mu_bar = phi.mean(axis=0)  # policy 0: uniform over the candidates
        w = mu_e - mu_bar
        margins = [float(np.linalg.norm(w))]
        best_w, best_gap = None, np.inf
        for _ in range(self.max_iter):
            if margins[-1] < self.tol:
                break
            unit = w / max(np.linalg.norm(w), 1e-12)
            r = phi @ unit
            p = np.exp(self.beta * (r - r.max()))
            p /= p.sum()
            mu = p @ phi
            # the answer is a reward whose own policy imitates the experts: keep the w that generated
            # the closest policy (the residual after a near-exact match is noise, not a direction)
            gap = float(np.linalg.norm(mu_e - mu))
            if gap < best_gap - 1e-12:
                best_w, best_gap = unit, gap
            d = mu - mu_bar
            denom = float(d @ d)
            if denom < 1e-18:
                break
            mu_bar = mu_bar + (float(d @ (mu_e - mu_bar)) / denom) * d
            w = mu_e - mu_bar
            t = float(np.linalg.norm(w))
            if t > margins[-1] - 1e-9:  # no progress: the projection has converged
                margins.append(t)
                break
            margins.append(t)
        if best_w is None:  # the experts look like the average architecture: no preference
            best_w = mu_e - phi.mean(axis=0)
        norm = float(np.linalg.norm(best_w))
        self.weights_ = best_w / norm if norm > 1e-12 else np.zeros_like(best_w)
        self.margins_ = margins
        self.policy_gap_ = best_gap
        self.expert_mu_ = mu_e
        self.policy_mu_ = mu_bar
        self.names_ = feature_names(sp)
        r = phi @ self.weights_
        self.reward_mean_, self.reward_scale_ = float(r.mean()), float(r.std() or 1.0)
        return self

    def _check(self) -> None:
        if self.weights_ is None:
            raise NasgcnError("the IRLAS prior is not fitted yet (call fit(experts) first)")

    def raw_reward(self, ids: np.ndarray) -> np.ndarray:
        """``w . phi(x)`` on standardized features (unscaled)."""
        self._check()
        return self._standardize(topology_features(self.space, ids)) @ self.weights_

    def reward(self, ids: np.ndarray) -> np.ndarray:
        """Standardized reward (mean 0, sd 1 over the candidates): the term a search adds, times W."""
        return (self.raw_reward(ids) - self.reward_mean_) / self.reward_scale_

    __call__ = reward

    def describe(self, top: int = 6) -> list[tuple[str, float]]:
        """The ``top`` features with the largest absolute weights: what the experts' topology rewards."""
        self._check()
        order = np.argsort(-np.abs(self.weights_))[:top]
        return [(self.names_[i], float(self.weights_[i])) for i in order]


def fit_prior(
    experts: str | os.PathLike | np.ndarray | list[str], space: SearchSpace | str = "nb201", **params: Any
) -> IRLASPrior:
    """An :class:`IRLASPrior` fitted to an experts file (one architecture a line) or to given architectures."""
    sp = get_space(space)
    if isinstance(experts, str) and _looks_like_arch(experts, sp):
        experts = [experts]
    elif isinstance(experts, (str, os.PathLike)):
        experts = read_experts(experts, sp)
    return IRLASPrior(space=sp.name, **params).fit(experts)


def _looks_like_arch(text: str, sp: SearchSpace) -> bool:
    try:
        sp.parse(text)
    except (ArchitectureError, NasgcnError):
        return False
    return True

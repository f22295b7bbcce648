"""MobileNet-style chain spaces (SPOS, FairNAS, ProxylessNAS, FBNet, NAS-Bench-Macro) from a small spec.

A chain space is a stem, stages of searchable layers and a head. Each layer picks one candidate
block; a stage's first layer changes stride and channels. A user declares one without writing a
class::

    spec = ChainSpec(
        name="tiny",
        stem_channels=16,
        stage_layers=(2, 2),
        stage_channels=(32, 64),
        stage_strides=(2, 2),
        blocks=("skip", "k3_e3", "k5_e6"),
        head_channels=256,
    )
    register_chain_space(spec)  # get_space("tiny") now works in every command (--space tiny)

Conventions:

* **Strings**: the canonical string is one digit per layer (the block id), as in the
  NAS-Bench-Macro and HW-NAS-Bench data files (``22212220``); at most 10 blocks.
* **Blocks**: ``skip`` / ``identity`` (a real identity where shapes match; at a stage's first
  layer a 1x1 convolution + BN with the stage's stride, plus ReLU when ``skip_relu``), and inverted
  residuals named ``kK_eE`` or ``kK_eE_gG`` (FBNet) or ``mbE_kK`` (NAS-Bench-Macro): 1x1 expand
  (``groups`` G) + BN + ReLU, KxK depthwise (layer stride) + BN + ReLU, 1x1 project (``groups`` G)
  + BN, residual when input and output shapes match. The expand convolution is kept at E = 1.
* **Isomorphism**: a ``skip`` layer after the first of a stage is the identity, so it can be moved
  to the end of its stage; the canonical form does exactly that (stable order of the others).
* **Graph view** (what the GCN reads): a path input -> layer 1 -> ... -> layer L -> output; a
  layer's node type is the pair (layer, block), so the graph carries position as well as op.
* **Costs**: parameters (BatchNorm affine included; convolutions without bias, linear with bias)
  and multiply-accumulates of convolutions and the linear layer are sums of per-(layer, block)
  tables plus the fixed stem and head, so they are exact and vectorized.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import ArchitectureError, NasgcnError
from .base import SearchSpace, register_space

_KE = re.compile(r"^k(\d+)_e(\d+)(?:_g(\d+))?$")
_MB = re.compile(r"^mb(\d+)_k(\d+)$")
SKIP_NAMES = ("skip", "identity")


@dataclass(frozen=True)
class Block:
    """One candidate block of a chain layer (parsed from its name)."""

    name: str
    kind: str  # "skip" or "mbconv"
    kernel: int = 0
    expansion: int = 0
    groups: int = 1

    @classmethod
    def parse(cls, name: str) -> Block:
        key = name.strip().lower()
        if key in SKIP_NAMES:
            return cls(name=key, kind="skip")
        m = _KE.match(key)
        if m:
            return cls(key, "mbconv", kernel=int(m.group(1)), expansion=int(m.group(2)), groups=int(m.group(3) or 1))
        m = _MB.match(key)
        if m:
            return cls(key, "mbconv", kernel=int(m.group(2)), expansion=int(m.group(1)))
        raise NasgcnError(
            f"unknown chain block {name!r}: use 'skip' (or 'identity'), 'kK_eE', 'kK_eE_gG' or 'mbE_kK' "
            "(e.g. k3_e6, k5_e1_g2, mb6_k5)"
        )


@dataclass(frozen=True)
class ChainSpec:
    """Shape of a chain space: everything needed to parse, cost and build its networks."""

    name: str
    stem_channels: int
    stage_layers: tuple[int, ...]
    stage_channels: tuple[int, ...]
    stage_strides: tuple[int, ...]
    blocks: tuple[str, ...]
    head_channels: int
    num_classes: int = 10
    input_size: int = 32
    in_channels: int = 3
    stem_stride: int = 1
    skip_relu: bool = False  # ReLU after a stage-start skip's 1x1 convolution (FBNet: yes)
    description: str = ""
    block_info: tuple[Block, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("stage_layers", "stage_channels", "stage_strides", "blocks"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not re.fullmatch(r"[a-z][a-z0-9_\-]*", self.name):
            raise NasgcnError(f"space name {self.name!r} must be lower-case letters, digits, '_' or '-'")
        n = len(self.stage_layers)
        if n == 0 or len(self.stage_channels) != n or len(self.stage_strides) != n:
            raise NasgcnError(
                f"chain space {self.name!r}: stage_layers, stage_channels and stage_strides need one entry "
                f"per stage (got {len(self.stage_layers)}, {len(self.stage_channels)}, {len(self.stage_strides)})"
            )
        ints = ("stem_channels", "head_channels", "num_classes", "input_size", "in_channels", "stem_stride")
        for name in ints:
            if int(getattr(self, name)) < 1:
                raise NasgcnError(f"chain space {self.name!r}: {name} must be a positive integer")
        if any(int(v) < 1 for v in self.stage_layers + self.stage_channels + self.stage_strides):
            raise NasgcnError(f"chain space {self.name!r}: stage sizes, channels and strides must be positive")
        if not 2 <= len(self.blocks) <= 10:
            raise NasgcnError(f"chain space {self.name!r}: needs 2 to 10 candidate blocks (one digit each)")
        info = tuple(Block.parse(b) for b in self.blocks)
        if len({b.name for b in info}) != len(info):
            raise NasgcnError(f"chain space {self.name!r}: candidate blocks repeat: {self.blocks}")
        if sum(b.kind == "skip" for b in info) > 1:
            raise NasgcnError(f"chain space {self.name!r}: at most one skip block")
        c_in = self.stem_channels
        for c_out, b in ((c, b) for c in self.stage_channels for b in info if b.kind == "mbconv"):
            if b.groups > 1 and (c_out % b.groups or (c_in * b.expansion) % b.groups):
                raise NasgcnError(f"chain space {self.name!r}: {b.name} needs channels divisible by {b.groups}")
        object.__setattr__(self, "block_info", info)

    @property
    def num_layers(self) -> int:
        return int(sum(self.stage_layers))

    def layers(self, input_size: int | None = None) -> list[dict[str, int]]:
        """Per searchable layer: stage, in/out channels, stride, input and output resolution."""
        h = _down(input_size or self.input_size, self.stem_stride)
        c_in = self.stem_channels
        out = []
        for stage, (n, c, s) in enumerate(zip(self.stage_layers, self.stage_channels, self.stage_strides, strict=True)):
            for j in range(n):
                stride = s if j == 0 else 1
                h_out = _down(h, stride)
                out.append(
                    {
                        "stage": stage,
                        "first": int(j == 0),
                        "c_in": c_in,
                        "c_out": c,
                        "stride": stride,
                        "h_in": h,
                        "h_out": h_out,
                    }
                )
                c_in, h = c, h_out
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("block_info", None)
        return d


def _down(h: int, stride: int) -> int:
    """Output size of a 'same'-padded convolution with this stride."""
    return -(-h // stride)


def block_costs(
    block: Block, c_in: int, c_out: int, stride: int, h_in: int, skip_relu: bool = False
) -> tuple[int, int]:
    """(parameters, MACs) of one block; BN affine counted, convolutions without bias."""
    h_out = _down(h_in, stride)
    if block.kind == "skip":
        if c_in == c_out and stride == 1:
            return 0, 0
        return c_in * c_out + 2 * c_out, c_in * c_out * h_out * h_out
    mid = c_in * block.expansion
    g, k = block.groups, block.kernel
    params = c_in * mid // g + 2 * mid + k * k * mid + 2 * mid + mid * c_out // g + 2 * c_out
    macs = c_in * mid // g * h_in * h_in + k * k * mid * h_out * h_out + mid * c_out // g * h_out * h_out
    return params, macs


class ChainSpace(SearchSpace):
    """A chain search space described by a :class:`ChainSpec` (see the module docstring)."""

    def __init__(self, spec: ChainSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.ops = tuple(b.name for b in spec.block_info)
        self.num_slots = spec.num_layers
        self.stage_of_slot = np.repeat(np.arange(len(spec.stage_layers)), spec.stage_layers)
        self.slot_names = tuple(f"layer {k} (stage {int(st)})" for k, st in enumerate(self.stage_of_slot.tolist()))
        self.skip_op = next((i for i, b in enumerate(spec.block_info) if b.kind == "skip"), None)
        self.macro_description = spec.description or (
            f"chain: stem {spec.stem_channels}, stages {list(spec.stage_layers)} x {list(spec.stage_channels)} "
            f"(strides {list(spec.stage_strides)}), head {spec.head_channels}, {spec.num_classes} classes"
        )
        n_ops = len(self.ops)
        self.node_type_names = (
            ("input",) + tuple(f"L{k}:{op}" for k in range(self.num_slots) for op in self.ops) + ("output",)
        )
        self._type_offset = 1 + np.arange(self.num_slots, dtype=np.int64) * n_ops

    # ----- strings ---------------------------------------------------------------
    def parse(self, arch_str: str) -> tuple[int, ...]:
        if not isinstance(arch_str, str):
            raise ArchitectureError(f"architecture must be a string, got {type(arch_str).__name__}")
        s = arch_str.strip()
        n_ops, k = len(self.ops), self.num_slots
        example = "".join(str(i % n_ops) for i in range(k))
        if len(s) != k or not s.isdigit():
            raise ArchitectureError(
                f"malformed {self.name} architecture {arch_str!r}: expected {k} digits, one block id per layer "
                f"(0..{n_ops - 1}: {', '.join(f'{i}={op}' for i, op in enumerate(self.ops))}); example: {example}"
            )
        ids = tuple(int(c) for c in s)
        bad = [i for i, v in enumerate(ids) if v >= n_ops]
        if bad:
            raise ArchitectureError(
                f"unknown block id {ids[bad[0]]} at layer {bad[0]} of {arch_str!r}; {self.name} block ids are "
                f"0..{n_ops - 1} ({', '.join(self.ops)})"
            )
        return ids

    def format(self, op_ids: Sequence[int]) -> str:
        ids = [int(i) for i in op_ids]
        if len(ids) != self.num_slots or min(ids) < 0 or max(ids) >= len(self.ops):
            raise ArchitectureError(
                f"a {self.name} encoding is {self.num_slots} block ids in 0..{len(self.ops) - 1}, got {list(op_ids)!r}"
            )
        return "".join(str(i) for i in ids)

    def encode(self, archs) -> np.ndarray:
        if isinstance(archs, np.ndarray) and archs.ndim == 2:
            return self.validate_ids(archs)
        if isinstance(archs, str):
            archs = [archs]
        archs = list(archs)
        k = self.num_slots
        # Fast path: one vectorized pass over clean digit strings; any problem re-parses row by row.
        if archs and all(isinstance(a, str) and len(a) == k for a in archs):
            buf = np.frombuffer("".join(archs).encode("ascii", "replace"), dtype=np.uint8).reshape(len(archs), k)
            ids = buf.astype(np.int64) - ord("0")
            if ids.min() >= 0 and ids.max() < len(self.ops):
                return ids
        return super().encode(archs)

    def decode(self, op_ids: np.ndarray) -> list[str]:
        ids = self.validate_ids(np.atleast_2d(op_ids))
        chars = (ids.astype(np.uint8) + ord("0")).tobytes()
        k = self.num_slots
        return [chars[i * k : (i + 1) * k].decode("ascii") for i in range(ids.shape[0])]

    # ----- structure -------------------------------------------------------------
    def canonical_ids(self, op_ids: np.ndarray) -> np.ndarray:
        """Skip layers after the first of each stage moved to the stage's end (stable order)."""
        ids = self.validate_ids(np.atleast_2d(op_ids)).copy()
        if self.skip_op is None:
            return ids
        start = 0
        for n in self.spec.stage_layers:
            if n > 2:
                block = ids[:, start + 1 : start + n]
                order = np.argsort(block == self.skip_op, axis=1, kind="stable")
                ids[:, start + 1 : start + n] = np.take_along_axis(block, order, axis=1)
            start += n
        return ids

    # ----- graph view -------------------------------------------------------------
    @cached_property
    def adjacency(self) -> np.ndarray:
        n = self.num_slots + 2
        adj = np.zeros((n, n), dtype=np.float32)
        adj[np.arange(n - 1), np.arange(1, n)] = 1.0
        return adj

    def node_types(self, op_ids: np.ndarray) -> np.ndarray:
        ids = self.validate_ids(np.atleast_2d(op_ids))
        out = np.empty((ids.shape[0], self.num_slots + 2), dtype=np.int64)
        out[:, 0] = 0
        out[:, 1:-1] = ids + self._type_offset
        out[:, -1] = len(self.node_type_names) - 1
        return out

    # ----- exact costs -------------------------------------------------------------
    def macro_defaults(self) -> dict[str, Any]:
        return {"input_size": self.spec.input_size, "num_classes": self.spec.num_classes}

    def _macro(self, macro: Mapping[str, Any] | None) -> tuple[int, int]:
        opts = self.macro_defaults()
        for key, value in (macro or {}).items():
            if key not in opts:
                raise NasgcnError(f"space {self.name!r} has no macro option {key!r}; options: {', '.join(opts)}")
            if int(value) < 1:
                raise NasgcnError(f"macro option {key} must be a positive integer, got {value!r}")
            opts[key] = int(value)
        return opts["input_size"], opts["num_classes"]

    def cost_tables(self, macro: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Per-(layer, block) parameter and MAC tables ``(L, n_ops)`` plus the fixed stem + head costs."""
        input_size, num_classes = self._macro(macro)
        sp = self.spec
        layers = sp.layers(input_size)
        params = np.zeros((self.num_slots, len(self.ops)), dtype=np.int64)
        macs = np.zeros_like(params)
        for k, lay in enumerate(layers):
            for j, block in enumerate(sp.block_info):
                params[k, j], macs[k, j] = block_costs(
                    block, lay["c_in"], lay["c_out"], lay["stride"], lay["h_in"], sp.skip_relu
                )
        h0 = _down(input_size, sp.stem_stride)
        h_last = layers[-1]["h_out"]
        c_last = sp.stage_channels[-1]
        fixed_p = 9 * sp.in_channels * sp.stem_channels + 2 * sp.stem_channels
        fixed_m = 9 * sp.in_channels * sp.stem_channels * h0 * h0
        fixed_p += c_last * sp.head_channels + 2 * sp.head_channels + sp.head_channels * num_classes + num_classes
        fixed_m += c_last * sp.head_channels * h_last * h_last + sp.head_channels * num_classes
        return params, macs, fixed_p, fixed_m

    @cached_property
    def _default_tables(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        return self.cost_tables()

    def costs(self, op_ids: np.ndarray, macro: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
        ids = self.validate_ids(np.atleast_2d(op_ids))
        p_tab, m_tab, fixed_p, fixed_m = self.cost_tables(macro) if macro else self._default_tables
        rows = np.arange(self.num_slots)
        params = p_tab[rows, ids].sum(axis=1) + fixed_p
        macs = m_tab[rows, ids].sum(axis=1) + fixed_m
        return {"params": params, "macs": macs, "params_m": params / 1e6, "flops_m": macs / 1e6}

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["spec"] = self.spec.to_dict()
        return info


def register_chain_space(spec: ChainSpec) -> ChainSpace:
    """Register ``spec`` as a search space (usable as ``--space NAME`` everywhere); returns it."""
    from .base import get_space

    register_space(spec.name)(lambda: ChainSpace(spec))
    return get_space(spec.name)  # type: ignore[return-value]


def chain_spec_from_mapping(data: Mapping[str, Any], source: str = "spec") -> ChainSpec:
    """A :class:`ChainSpec` from a parsed TOML/JSON mapping, with a clear error naming ``source``."""
    allowed = {f for f in ChainSpec.__dataclass_fields__ if f != "block_info"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise NasgcnError(f"{source}: unknown chain-space key(s) {unknown}; known: {sorted(allowed)}")
    missing = sorted(
        f
        for f in ("name", "stem_channels", "stage_layers", "stage_channels", "stage_strides", "blocks", "head_channels")
        if f not in data
    )
    if missing:
        raise NasgcnError(f"{source}: chain-space spec lacks {missing}")
    try:
        return ChainSpec(**dict(data))
    except TypeError as exc:
        raise NasgcnError(f"{source}: bad chain-space spec ({exc})") from None


def load_chain_space(path: str) -> ChainSpace:
    """Register (once) and return the chain space declared in a TOML or JSON spec file.

    The file holds the :class:`ChainSpec` fields at top level or under ``[space]``. Loading the same
    spec twice returns the same space; a different spec under an already registered name is refused.
    """
    import json
    from pathlib import Path

    import tomllib

    file = Path(path)
    if not file.is_file():
        raise NasgcnError(f"{path}: chain-space spec file not found")
    try:
        text = file.read_text(encoding="utf-8")
        data = json.loads(text) if file.suffix.lower() == ".json" else tomllib.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise NasgcnError(f"{path}: not a readable spec file ({exc})") from None
    if not isinstance(data, dict):
        raise NasgcnError(f"{path}: a spec file holds a table of ChainSpec fields")
    if "space" in data and isinstance(data["space"], dict):
        data = data["space"]
    return ensure_chain_space(data, source=str(path))


def ensure_chain_space(data: Mapping[str, Any], source: str = "spec") -> ChainSpace:
    """The chain space a spec mapping describes: registered on first use, verified when the name exists.

    Model files and run folders store their chain space's spec, so a custom space needs no
    re-registration to load them; a different space under the same name is refused.
    """
    from .base import _CACHE, _REGISTRY, get_space

    spec = chain_spec_from_mapping(data, source=source)
    if spec.name in _REGISTRY:
        existing = get_space(spec.name)
        if not isinstance(existing, ChainSpace) or existing.spec != spec:
            raise NasgcnError(
                f"{source}: a different search space named {spec.name!r} is already registered; rename the spec"
            )
        return existing
    register_space(spec.name)(lambda: ChainSpace(spec))
    return _CACHE.setdefault(spec.name, ChainSpace(spec))  # type: ignore[return-value]

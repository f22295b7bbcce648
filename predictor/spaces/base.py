"""The interface every search space implements, and a registry of spaces.

An architecture is a value: its canonical string (``arch_str``) or, for speed,
a row of integer op ids. Spaces never hand out mutable objects.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import NasgcnError
from ..rows import unique_rows

#: Spaces up to this many architectures can be enumerated (tables, ``all_ids``, iso classes).
MAX_ENUMERABLE = 2_000_000


def number_classes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(class id of every index, smallest index of every class) from one class key per index.

    Classes are numbered by their smallest member, so class ids follow index order; both arrays
    are read-only.
    """
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    class_of = rank[inverse.ravel()]
    rep_of_class = np.sort(first)
    class_of.setflags(write=False)
    rep_of_class.setflags(write=False)
    return class_of, rep_of_class


class SearchSpace(ABC):
    """A search space with a fixed number of choice slots: the one thing every layer asks.

    Subclasses describe the space (``name``, ``ops``, ``num_slots``) and implement parsing
    and formatting of canonical strings, exact costs and the graph view the GCN reads.
    The encoding of an architecture is an integer vector of op ids, one per slot. Every
    other layer (predictor, tables, hardware, supernet, CLI) goes through this interface,
    never through a module of a particular space.

    What a space must supply:

    * strings: :meth:`parse`, :meth:`format` (vectorized :meth:`encode` / :meth:`decode`);
    * structure: :meth:`canonical_ids` (default: every architecture is its own class) and
      :meth:`is_dead` (default: none);
    * graph view: :attr:`node_type_names`, :meth:`node_types` and a fixed :attr:`adjacency`;
      :attr:`zero_node_types` lists node types that send nothing (NB201's ``none``);
    * exact costs: :meth:`costs` (parameters and multiply-accumulates of a macro network);
    * :attr:`slot_names` for messages and :meth:`describe` for ``nasgcn space info``.

    Enumeration, isomorphism classes, sampling, mutation and crossover come for free.
    """

    name: str
    ops: tuple[str, ...]
    num_slots: int
    #: Human-readable name of each slot ("edge 1<-0", "layer 3"), for messages.
    slot_names: tuple[str, ...] = ()
    #: Node types whose nodes send no message (a zero op); empty for most spaces.
    zero_node_types: tuple[int, ...] = ()
    #: One-line description of the macro network behind :meth:`costs`.
    macro_description: str = ""

    # ----- strings and encodings -------------------------------------------------
    @abstractmethod
    def parse(self, arch_str: str) -> tuple[int, ...]:
        """Op ids of one architecture string; raises ArchitectureError when malformed."""

    @abstractmethod
    def format(self, op_ids: Sequence[int]) -> str:
        """The canonical string of one op-id vector."""

    def encode(self, archs: Iterable[str] | np.ndarray) -> np.ndarray:
        """Op-id matrix ``(n, num_slots)`` for strings (or pass an op-id matrix through)."""
        if isinstance(archs, np.ndarray) and archs.ndim == 2:
            return self.validate_ids(archs)
        if isinstance(archs, str):
            archs = [archs]
        rows = [self.parse(a) for a in archs]
        return np.asarray(rows, dtype=np.int64).reshape(len(rows), self.num_slots)

    def decode(self, op_ids: np.ndarray) -> list[str]:
        """Strings of an op-id matrix."""
        return [self.format(row) for row in np.asarray(op_ids)]

    def validate_ids(self, op_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(op_ids)
        if ids.ndim != 2 or ids.shape[1] != self.num_slots:
            raise NasgcnError(
                f"expected an op-id matrix of shape (n, {self.num_slots}) for space "
                f"{self.name!r}, got shape {ids.shape}"
            )
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.ops)):
            raise NasgcnError(f"op ids must lie in 0..{len(self.ops) - 1} for space {self.name!r}")
        return ids.astype(np.int64, copy=False)

    # ----- enumeration -----------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of architectures (an exact Python int: 9**22 does not fit in int64)."""
        return len(self.ops) ** self.num_slots

    @property
    def enumerable(self) -> bool:
        """Whether the whole space can be listed (lookup tables, ``all_ids``, iso classes)."""
        return self.size <= MAX_ENUMERABLE

    def require_enumerable(self, what: str) -> None:
        """Raise a clear error when ``what`` needs the whole space and the space is too large."""
        if not self.enumerable:
            raise NasgcnError(
                f"{what} needs every architecture of space {self.name!r}, which has {self.size:.3e} "
                f"(more than {MAX_ENUMERABLE:,} cannot be enumerated); search it instead "
                "(`nasgcn search MODEL ...`) or pass explicit architectures"
            )

    def all_ids(self) -> np.ndarray:
        """Every architecture as an op-id matrix, in index order (see :meth:`index_of`)."""
        self.require_enumerable("listing the space")
        n_ops = len(self.ops)
        idx = np.arange(self.size, dtype=np.int64)
        powers = n_ops ** np.arange(self.num_slots - 1, -1, -1, dtype=np.int64)
        return (idx[:, None] // powers[None, :]) % n_ops

    def index_of(self, op_ids: np.ndarray) -> np.ndarray:
        """Index of each op-id row: base-``len(ops)`` number, first slot most significant."""
        self.require_enumerable("an integer index")
        ids = self.validate_ids(np.atleast_2d(op_ids))
        powers = len(self.ops) ** np.arange(self.num_slots - 1, -1, -1, dtype=np.int64)
        return ids @ powers

    def all_strings(self) -> list[str]:
        return self.decode(self.all_ids())

    # ----- random helpers --------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator | int | None = None, unique: bool = False) -> np.ndarray:
        """``n`` random architectures (op ids), uniform over the space.

        With ``unique=True`` the rows are distinct (sampled without replacement).
        """
        rng = np.random.default_rng(rng)
        if unique:
            if n > self.size:
                raise NasgcnError(f"cannot sample {n} distinct architectures from {self.size}")
            if self.enumerable:
                return self.all_ids()[rng.choice(self.size, size=n, replace=False)]
            # Huge space: duplicates are vanishingly rare, draw until n distinct rows (first-seen order).
            out = np.zeros((0, self.num_slots), dtype=np.int64)
            while out.shape[0] < n:
                extra = rng.integers(0, len(self.ops), size=(n - out.shape[0], self.num_slots), dtype=np.int64)
                both = np.concatenate([out, extra])
                _, first, _ = unique_rows(both)
                out = both[np.sort(first)]
            return out
        return rng.integers(0, len(self.ops), size=(n, self.num_slots), dtype=np.int64)

    def neighbours(self, op_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Every architecture one slot away from ``op_ids``: ``num_slots * (len(ops) - 1)`` rows."""
        row = self.validate_ids(np.atleast_2d(op_ids))[0]
        k, n_ops = self.num_slots, len(self.ops)
        out = np.repeat(row[None, :], k * (n_ops - 1), axis=0)
        slot = np.repeat(np.arange(k), n_ops - 1)
        shift = np.tile(np.arange(1, n_ops), k)
        out[np.arange(out.shape[0]), slot] = (row[slot] + shift) % n_ops
        return out

    def mutate(self, op_ids: np.ndarray, prob: float, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Resample each slot with probability ``prob`` to a *different* op.

        At least one slot of every row changes, so a mutation never returns its parent.
        """
        rng = np.random.default_rng(rng)
        ids = self.validate_ids(np.atleast_2d(op_ids)).copy()
        n, k = ids.shape
        change = rng.random((n, k)) < prob
        forced = rng.integers(0, k, size=n)
        change[np.arange(n), forced] |= ~change.any(axis=1)
        shift = rng.integers(1, len(self.ops), size=(n, k))
        ids[change] = (ids[change] + shift[change]) % len(self.ops)
        return ids

    def crossover(self, a: np.ndarray, b: np.ndarray, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Uniform crossover: each slot is taken from parent ``a`` or ``b`` at random."""
        rng = np.random.default_rng(rng)
        a = self.validate_ids(np.atleast_2d(a))
        b = self.validate_ids(np.atleast_2d(b))
        if a.shape != b.shape:
            raise NasgcnError(f"crossover parents differ in shape: {a.shape} vs {b.shape}")
        take_a = rng.random(a.shape) < 0.5
        return np.where(take_a, a, b)

    # ----- structure -------------------------------------------------------------
    def canonical_ids(self, op_ids: np.ndarray) -> np.ndarray:
        """The canonical member of each row's isomorphism class, as op ids.

        Two rows are functionally equivalent exactly when their canonical ids are equal.
        The default treats every architecture as its own class.
        """
        return self.validate_ids(np.atleast_2d(op_ids)).copy()

    def is_dead(self, op_ids: np.ndarray) -> np.ndarray:
        """True where no path carries the input to the output (default: never)."""
        return np.zeros(np.atleast_2d(op_ids).shape[0], dtype=bool)

    def iso_hash(self, op_ids: np.ndarray) -> np.ndarray:
        """A uint64 per row, equal exactly for functionally equivalent architectures.

        Enumerable spaces return the class id (no collisions); others a 64-bit hash of the
        canonical ids (collisions possible in principle, about n**2 / 2**65).
        """
        if self.enumerable:
            return self.iso_class(op_ids).astype(np.uint64)
        canon = self.canonical_ids(op_ids).astype(np.uint64)
        h = np.full(canon.shape[0], 0xCBF29CE484222325, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for k in range(canon.shape[1]):
                h = (h ^ (canon[:, k] + np.uint64(k << 8))) * np.uint64(0x100000001B3)
        return h

    def _class_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """(class id of every index, index of every class's representative), cached per instance."""
        cached = self.__dict__.get("_class_tables_cache")
        if cached is None:
            all_ids = self.all_ids()
            cached = number_classes(self.index_of(self.canonical_ids(all_ids)))
            self.__dict__["_class_tables_cache"] = cached
        return cached

    def iso_class(self, op_ids: np.ndarray) -> np.ndarray:
        """Isomorphism class id of each row, numbered in order of each class's smallest index."""
        self.require_enumerable("isomorphism class ids")
        return self._class_tables()[0][self.index_of(op_ids)]

    def iso_representative(self, op_ids: np.ndarray) -> np.ndarray:
        """Index of each row's class representative: the smallest index in its class."""
        class_of, rep = self._class_tables()
        return rep[class_of[self.index_of(op_ids)]]

    @property
    def num_unique(self) -> int | None:
        """Number of isomorphism classes (``None`` when the space cannot be enumerated)."""
        if not self.enumerable:
            return None
        return int(self._class_tables()[1].size)

    def unique_ids(self) -> np.ndarray:
        """One op-id row per isomorphism class (its smallest-index member), in class order."""
        return self.all_ids()[self._class_tables()[1]]

    def canonical(self, arch: str) -> str:
        """Canonical string of ``arch``: the same for every member of its class."""
        ids = np.asarray([self.parse(arch)], dtype=np.int64)
        if self.enumerable:
            return self.format(self.all_ids()[self.iso_representative(ids)[0]])
        return self.format(self.canonical_ids(ids)[0])

    # ----- graph view (what the GCN reads) ------------------------------------------
    #: Names of the node types of the graph view, indexed by node-type id.
    node_type_names: tuple[str, ...]

    @property
    def num_node_types(self) -> int:
        return len(self.node_type_names)

    @property
    @abstractmethod
    def adjacency(self) -> np.ndarray:
        """Fixed ``(num_nodes, num_nodes)`` float32 adjacency of the graph view (row = source)."""

    @abstractmethod
    def node_types(self, op_ids: np.ndarray) -> np.ndarray:
        """Node-type ids ``(n, num_nodes)`` of each row's graph view."""

    # ----- exact costs -----------------------------------------------------------
    @abstractmethod
    def costs(self, op_ids: np.ndarray, macro: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
        """Exact ``params``, ``macs`` (ints) and ``params_m``, ``flops_m`` (millions) per row.

        ``macro`` overrides the macro network's options (see :meth:`macro_defaults`).
        FLOPs are multiply-accumulates of convolutions and linear layers.
        """

    def macro_defaults(self) -> dict[str, Any]:
        """Options of the macro network behind :meth:`costs` and the torch models."""
        return {}

    def describe(self) -> dict[str, Any]:
        """What ``nasgcn space info`` prints: size, classes, ops, slots."""
        info: dict[str, Any] = {
            "space": self.name,
            "size": self.size,
            "unique": self.num_unique,
            "enumerable": self.enumerable,
            "ops": list(self.ops),
            "slots": list(self.slot_names) or [f"slot {k}" for k in range(self.num_slots)],
            "macro": self.macro_defaults(),
        }
        if self.enumerable:
            info["dead"] = int(self.is_dead(self.all_ids()).sum())
        return info

    def check_compatible(self, recorded: str | None, what: str) -> None:
        """Refuse an input recorded for another space, naming the file/model and the fix."""
        if recorded is not None and str(recorded).lower() != self.name:
            raise NasgcnError(
                f"{what} is for search space {recorded!r}, not {self.name!r} "
                f"(pass --space {recorded}, or use a file made for {self.name!r})"
            )


_REGISTRY: dict[str, Callable[[], SearchSpace]] = {}
_CACHE: dict[str, SearchSpace] = {}


def register_space(name: str) -> Callable[[Callable[[], SearchSpace]], Callable[[], SearchSpace]]:
    """Decorator registering a zero-argument space factory under ``name``."""

    def deco(factory: Callable[[], SearchSpace]) -> Callable[[], SearchSpace]:
        key = name.lower()
        if key in _REGISTRY and _REGISTRY[key] is not factory:
            raise NasgcnError(f"a search space named {name!r} is already registered")
        _REGISTRY[key] = factory
        _CACHE.pop(key, None)
        return factory

    return deco


def list_spaces() -> list[str]:
    """Names of the registered spaces (built-in ones are registered on import of this package)."""
    return sorted(_REGISTRY)


def get_space(name: str | SearchSpace = "nb201") -> SearchSpace:
    """The (shared, immutable) space registered as ``name``.

    ``name`` may also be the path of a chain-space spec file (``.toml`` or ``.json``, see
    :mod:`predictor.spaces.chain`): the space is registered under the spec's ``name`` on first use.
    """
    if isinstance(name, SearchSpace):
        return name
    if not isinstance(name, str) or not name:
        raise NasgcnError(f"a search space is a registered name or a spec file, got {name!r}")
    if name.lower().endswith((".toml", ".json")):
        from .chain import load_chain_space

        return load_chain_space(name)
    key = name.lower()
    if key not in _REGISTRY:
        raise NasgcnError(
            f"unknown search space {name!r}; known spaces: {', '.join(list_spaces())} "
            "(or pass a chain-space spec file, NAME.toml)"
        )
    if key not in _CACHE:
        _CACHE[key] = _REGISTRY[key]()
    return _CACHE[key]

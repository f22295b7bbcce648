"""The interface every search space implements, and a registry of spaces.

An architecture is a value: its canonical string (``arch_str``) or, for speed,
a row of integer op ids. Spaces never hand out mutable objects.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ..errors import NasgcnError


class SearchSpace(ABC):
    """A finite cell search space with a fixed number of choice slots.

    Subclasses describe the space (``name``, ``ops``, ``num_slots``) and implement
    parsing/formatting of architecture strings, isomorphism classes and graphs.
    The encoding of an architecture is an integer vector of op ids, one per slot.
    """

    name: str
    ops: tuple[str, ...]
    num_slots: int

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
        return len(self.ops) ** self.num_slots

    def all_ids(self) -> np.ndarray:
        """Every architecture as an op-id matrix, in index order (see :meth:`index_of`)."""
        n_ops = len(self.ops)
        idx = np.arange(self.size, dtype=np.int64)
        powers = n_ops ** np.arange(self.num_slots - 1, -1, -1, dtype=np.int64)
        return (idx[:, None] // powers[None, :]) % n_ops

    def index_of(self, op_ids: np.ndarray) -> np.ndarray:
        """Index of each op-id row: base-``len(ops)`` number, first slot most significant."""
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
            return self.all_ids()[rng.choice(self.size, size=n, replace=False)]
        return rng.integers(0, len(self.ops), size=(n, self.num_slots), dtype=np.int64)

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
    @abstractmethod
    def iso_hash(self, op_ids: np.ndarray) -> np.ndarray:
        """A uint64 per row, equal exactly for functionally equivalent architectures."""

    @abstractmethod
    def is_dead(self, op_ids: np.ndarray) -> np.ndarray:
        """True where no path carries the input to the output."""


_REGISTRY: dict[str, Callable[[], SearchSpace]] = {}
_CACHE: dict[str, SearchSpace] = {}


def register_space(name: str) -> Callable[[Callable[[], SearchSpace]], Callable[[], SearchSpace]]:
    """Decorator registering a zero-argument space factory under ``name``."""

    def deco(factory: Callable[[], SearchSpace]) -> Callable[[], SearchSpace]:
        _REGISTRY[name] = factory
        return factory

    return deco


def list_spaces() -> list[str]:
    return sorted(_REGISTRY)


def get_space(name: str | SearchSpace = "nb201") -> SearchSpace:
    """The (shared, immutable) space registered as ``name``."""
    if isinstance(name, SearchSpace):
        return name
    key = name.lower()
    if key not in _REGISTRY:
        raise NasgcnError(f"unknown search space {name!r}; known spaces: {', '.join(list_spaces())}")
    if key not in _CACHE:
        _CACHE[key] = _REGISTRY[key]()
    return _CACHE[key]

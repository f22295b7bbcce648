"""Search spaces: the :class:`SearchSpace` interface and the registered spaces."""

from .base import SearchSpace, get_space, list_spaces, register_space
from .nb201 import EDGES, NODE_TYPES, OPS, OPS_VIEW_ADJACENCY, NB201Space

__all__ = [
    "SearchSpace",
    "NB201Space",
    "get_space",
    "list_spaces",
    "register_space",
    "OPS",
    "EDGES",
    "NODE_TYPES",
    "OPS_VIEW_ADJACENCY",
]

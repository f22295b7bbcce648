"""Search spaces: the :class:`SearchSpace` interface and the registered spaces.

Built-in spaces: ``nb201`` (NAS-Bench-201's cell), ``nbmacro`` (NAS-Bench-Macro) and ``fbnet``
(HW-NAS-Bench's FBNet space). Add one with ``@register_space("name")`` on a factory, or declare a
chain space from a :class:`ChainSpec` with :func:`register_chain_space`.
"""

from . import fbnet as _fbnet  # noqa: F401  (registers "fbnet")
from . import nbmacro as _nbmacro  # noqa: F401  (registers "nbmacro")
from .base import MAX_ENUMERABLE, SearchSpace, get_space, list_spaces, register_space
from .chain import Block, ChainSpace, ChainSpec, chain_spec_from_mapping, register_chain_space
from .nb201 import EDGES, NODE_TYPES, OPS, OPS_VIEW_ADJACENCY, NB201Space

__all__ = [
    "MAX_ENUMERABLE",
    "SearchSpace",
    "NB201Space",
    "ChainSpace",
    "ChainSpec",
    "Block",
    "get_space",
    "list_spaces",
    "register_space",
    "register_chain_space",
    "chain_spec_from_mapping",
    "OPS",
    "EDGES",
    "NODE_TYPES",
    "OPS_VIEW_ADJACENCY",
]

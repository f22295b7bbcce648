"""Neural network models: stand-alone networks and weight-sharing supernets, one factory per space.

Use :func:`build_network` / :func:`build_supernet` (``supernet.models.registry``); the NB201 and
chain-space classes are exported for direct use.
"""

from .chain import ChainNetwork, ChainSupernet
from .network import NB201Network, arch_ids
from .registry import (
    build_network,
    build_supernet,
    register_network,
    register_supernet,
    space_of,
    supernet_from_config,
)
from .supernet import NB201Supernet, path_ops, recalibrate_bn

__all__ = [
    "ChainNetwork",
    "ChainSupernet",
    "NB201Network",
    "NB201Supernet",
    "arch_ids",
    "build_network",
    "build_supernet",
    "path_ops",
    "recalibrate_bn",
    "register_network",
    "register_supernet",
    "space_of",
    "supernet_from_config",
]

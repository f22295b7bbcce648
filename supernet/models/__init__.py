"""Neural network models: the stand-alone NB201 network and the weight-sharing supernet."""

from .network import NB201Network, arch_ids
from .supernet import NB201Supernet, path_ops, recalibrate_bn

__all__ = ["NB201Network", "NB201Supernet", "arch_ids", "path_ops", "recalibrate_bn"]

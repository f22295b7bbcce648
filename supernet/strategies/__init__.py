"""Training strategies beyond plain path sampling, registered in :mod:`supernet.samplers`' registry.

* ``hopnas`` (:mod:`.hopnas`): path dropout over the surviving ops, pruned during training in
  hierarchical order (op families first, then single ops).
* ``pgnas`` (:mod:`.pgnas`): a learned keep probability per (slot, op) from variational (concrete)
  dropout, then candidates drawn from that posterior (``nasgcn supernet posterior``).
"""

from __future__ import annotations

from . import hopnas, pgnas  # noqa: F401  (registration)

"""NAS-Bench-201's cost model, kept importable here for existing code and notebooks.

It lives in :mod:`predictor.spaces.nb201_costs`, beside the space it belongs to. Code that is not
NB201's own should not import it: ask the space instead (``get_space(name).costs(ids, macro)``,
``space.macro_defaults()``), which works for every space.
"""

from __future__ import annotations

from .spaces.nb201_costs import MacroConfig, cell_op_counts, nb201_costs

__all__ = ["MacroConfig", "cell_op_counts", "nb201_costs"]

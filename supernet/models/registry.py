"""Per-space model factories: the stand-alone network and the weight-sharing supernet of a space.

Register by decorator (``@register_network("name", options=...)`` / ``@register_supernet(...)``)
next to the model classes (NB201 in ``network.py`` / ``supernet.py``, chains in ``chain.py``); every
:class:`~predictor.spaces.ChainSpace`, including user-declared ones (``register_chain_space``),
gets :class:`~.chain.ChainNetwork` / :class:`~.chain.ChainSupernet` without registering
anything. Callers (trainer, evaluator, retraining, latency, shifting) only use
:func:`build_network`, :func:`build_supernet` and :func:`supernet_from_config`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from predictor.errors import NasgcnError
from predictor.spaces import ChainSpace, SearchSpace, get_space

NetworkFactory = Callable[..., nn.Module]  # (space, arch, **options)
SupernetFactory = Callable[..., nn.Module]  # (space, **config)

_NETWORKS: dict[str, NetworkFactory] = {}
_SUPERNETS: dict[str, SupernetFactory] = {}
_OPTIONS: dict[tuple[str, str], frozenset[str]] = {}


CHAIN = "<chain>"  # registry key of the factories every ChainSpace without its own entry uses


def register_network(space: str, options: Sequence[str] = ()) -> Callable[[NetworkFactory], NetworkFactory]:
    """Decorator: ``factory(space, arch, **options)`` builds ``space``'s stand-alone network.

    ``options``: the keyword options it takes (callers pass only those; see :func:`network_option_names`).
    """

    def deco(factory: NetworkFactory) -> NetworkFactory:
        _NETWORKS[space] = factory
        _OPTIONS[("network", space)] = frozenset(options)
        return factory

    return deco


def register_supernet(space: str, options: Sequence[str] = ()) -> Callable[[SupernetFactory], SupernetFactory]:
    """Decorator: ``factory(space, **config)`` builds ``space``'s supernet; its ``config()`` must round-trip."""

    def deco(factory: SupernetFactory) -> SupernetFactory:
        _SUPERNETS[space] = factory
        _OPTIONS[("supernet", space)] = frozenset(options)
        return factory

    return deco


def _key(table: dict[str, Callable[..., nn.Module]], sp: SearchSpace, what: str) -> str:
    if sp.name in table:
        return sp.name
    if isinstance(sp, ChainSpace) and CHAIN in table:
        return CHAIN
    raise NasgcnError(
        f"search space {sp.name!r} has no registered {what} (register one with "
        f"supernet.models.registry.register_{what}({sp.name!r}))"
    )


def build_network(space: str | SearchSpace, arch: str | Sequence[int], **options: Any) -> nn.Module:
    """The stand-alone network of ``arch`` in ``space`` (options: the factory's, e.g. ``num_classes``)."""
    sp = get_space(space)
    return _NETWORKS[_key(_NETWORKS, sp, "network")](sp, arch, **options)


def build_supernet(space: str | SearchSpace = "nb201", **config: Any) -> nn.Module:
    """The weight-sharing supernet of ``space`` built from its ``config()`` keys."""
    sp = get_space(space)
    config.pop("space", None)
    try:
        return _SUPERNETS[_key(_SUPERNETS, sp, "supernet")](sp, **config)
    except TypeError as exc:  # an option this space's supernet does not take
        raise NasgcnError(f"space {sp.name!r}: bad supernet option ({exc})") from None


def network_option_names(space: str | SearchSpace) -> frozenset[str]:
    """Keyword options the stand-alone network of ``space`` takes (as registered)."""
    sp = get_space(space)
    return _OPTIONS[("network", _key(_NETWORKS, sp, "network"))]


def supernet_option_names(space: str | SearchSpace) -> frozenset[str]:
    """Keyword options the supernet of ``space`` takes (as registered)."""
    sp = get_space(space)
    return _OPTIONS[("supernet", _key(_SUPERNETS, sp, "supernet"))]


def supernet_from_config(config: Mapping[str, Any]) -> nn.Module:
    """Rebuild a supernet from its saved ``config()`` (``space`` missing = ``nb201``, older files)."""
    cfg = dict(config)
    return build_supernet(cfg.pop("space", "nb201"), **cfg)


def space_of(model: nn.Module) -> str:
    """The space name a supernet or network was built for."""
    sp = getattr(model, "space", None)
    if sp is not None:
        return sp if isinstance(sp, str) else sp.name
    return "nb201"

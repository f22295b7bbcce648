"""The pipeline's TOML config: its schema, and validation of the whole file at load time.

Why everything at load: a run that fails after its supernet trained (a misspelt sampler, a
constraint column no table has, a missing data folder) costs the user the training time.
So every key, type, range, choice and column name a later stage needs is checked here, and
every message names the file, the line where it can be found, the section and the key:
``config.toml:12: [supernet] epochs = -3: must be ≥ 1``.

The schema is assembled, not written twice: the sections that belong to no single stage
(``[run]``, ``[space]``, ``[data]``, ``[search]``) are declared here, each stage's own section
where the stage is declared (:func:`supernet.stage_engine.stage` in :mod:`supernet.stages`).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from predictor.errors import NasgcnError

logger = logging.getLogger(__name__)

DATASETS = ("digits", "cifar10", "cifar100", "npz")
SEARCH_METHODS = ("both", "evolution", "local")  # predictor.search.METHODS (not imported: load stays light)
GCN_LOSSES = ("mse", "rank", "mix")  # predictor.gcn.LOSSES (not imported: it pulls in torch)
# [supernet] / [retrain] model options: each space's models take some of them (the others stay unused).
MODEL_KEYS = ("channels", "cells", "width")
# [table] keys that are macro-network options of some space (the rest are not macro options).
MACRO_KEYS = ("channels", "cells", "input_size", "num_classes")
TARGET_KEYS = ("name", "max", "min")
_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def sampler_names() -> tuple[str, ...]:
    """The samplers :func:`supernet.samplers.make_sampler` knows (its registry, not a copy)."""
    from . import samplers

    names = getattr(samplers, "sampler_names", None)
    return tuple(names()) if callable(names) else tuple(samplers.SAMPLERS)


@dataclass(frozen=True)
class Opt:
    """One config key: its default (which fixes its type), range and choices.

    ``ge``/``le`` are inclusive bounds, ``gt``/``lt`` exclusive ones; ``choices`` may be a
    callable so that a registry (the samplers) is asked when a file is checked, not copied.
    ``items`` is the type of a list's elements.
    """

    default: Any
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] | Callable[[], Iterable[Any]] | None = None
    items: type | None = None
    help: str = ""

    def allowed(self) -> tuple[Any, ...] | None:
        if self.choices is None:
            return None
        return tuple(self.choices() if callable(self.choices) else self.choices)


def as_opt(value: Any) -> Opt:
    return value if isinstance(value, Opt) else Opt(value)


# Sections that belong to no single stage (each stage declares its own in supernet/stages.py).
SHARED_SECTIONS: dict[str, dict[str, Opt]] = {
    "run": {
        "name": Opt("run"),
        "seed": Opt(0, ge=0, help="enters every stage's hash"),
        "device": Opt("cpu", help="cpu, cuda, cuda:N or mps"),
        "progress": Opt(True),
        "threads": Opt(0, ge=0, help="0 = torch default"),
        "eval_jobs": Opt(1, ge=1, help="CPU processes sharing the label stage's evaluations"),
    },
    # any registered space: nb201, nbmacro, fbnet, a register_chain_space() one (checked against the registry)
    "space": {"name": Opt("nb201")},
    "data": {
        "dataset": Opt("digits", choices=DATASETS, help="npz: a folder of *train*.npz / *test*.npz"),
        "root": Opt("", help="data folder (npz: required); relative paths are relative to the config file"),
        "download": Opt(False, help="cifar: let torchvision download"),
        "val_fraction": Opt(0.2, gt=0.0, lt=1.0, help="held out of the training images"),
        "limit_train": Opt(0, ge=0, help="0 = all training images"),
        "input_size": Opt(0, ge=0, help="0 = native; smaller = CPU-scale proxy"),
        "augment": Opt("auto", choices=("auto", "on", "off")),
    },
    # spaces too large to tabulate: the table stage searches the predictor instead (`nasgcn search`):
    # per query target, `budget` classes scored, the best `rows` and the Pareto front kept
    "search": {
        "budget": Opt(20000, ge=1),
        "rows": Opt(200, ge=1),
        "method": Opt("both", choices=SEARCH_METHODS),
        "kappa": Opt(0.0, ge=0.0),
    },
}


def schema() -> dict[str, dict[str, Opt]]:
    """Every section and its keys: the shared ones, then each stage's own, in stage order."""
    from .stage_engine import stage_registry

    out = dict(SHARED_SECTIONS)
    for st in stage_registry().values():
        if st.section is not None:
            out[st.section] = {k: as_opt(v) for k, v in st.options.items()}
    return out


def defaults() -> dict[str, dict[str, Any]]:
    """``{section: {key: default}}`` of the whole schema."""
    return {sec: {k: o.default for k, o in keys.items()} for sec, keys in schema().items()}


@dataclass
class Config:
    """A validated pipeline configuration: ``sections[name][key]`` with defaults filled."""

    sections: dict[str, dict[str, Any]]
    path: str = "<defaults>"
    base_dir: Path = field(default_factory=Path.cwd)
    #: keys the file set explicitly, per section (the others hold defaults)
    given: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: what loading changed or ignored (options of another space under ``--space``)
    notes: list[str] = field(default_factory=list)
    #: the file's text (for line numbers in later messages)
    text: str = ""
    #: ``"section.key"`` -> the command-line flag that set it after loading (``--data-root``)
    overridden: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> dict[str, Any]:
        return self.sections[name]

    @property
    def space(self) -> Any:
        """The :class:`~predictor.spaces.SearchSpace` of ``[space] name``."""
        from predictor.spaces import get_space

        return get_space(self.sections["space"]["name"])

    def resolve(self, p: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        q = Path(os.path.expanduser(p))
        return q if q.is_absolute() else (self.base_dir / q)

    def where(self, section: str, key: str | None = None) -> str:
        """``file:line`` of ``[section] key`` (just ``file`` when the line is unknown)."""
        line = _locate(self.text, section, key)
        return f"{self.path}:{line}" if line else self.path


# ----------------------------------------------------------------------------------
# messages
# ----------------------------------------------------------------------------------
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return repr(v)


_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\- \"']+?)\s*\]\s*(#.*)?$")


def _locate(text: str, section: str, key: str | None = None) -> int | None:
    """Line (1-based) of ``[section]`` or of ``key = ...`` inside it; None when not found (best effort)."""
    if not text:
        return None
    current, header_line = None, None
    for i, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m:
            current = m.group(1).strip()
            if current == section:
                header_line = i
                if key is None:
                    return i
            continue
        if current == section and key is not None and re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return i
    return header_line


def _suggest(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), [str(k) for k in known], n=1, cutoff=0.6)
    return f"did you mean {close[0]}? " if close else ""


NO_VALUE = object()


class _Check:
    """Builds ``file:line: [section] key = value: problem (fix)`` messages for one file."""

    def __init__(self, path: str, text: str) -> None:
        self.path, self.text = path, text

    def at(self, section: str, key: str | None = None) -> str:
        line = _locate(self.text, section, key)
        return f"{self.path}:{line}" if line else self.path

    def fail(
        self, section: str, key: str | None, value: Any, problem: str, fix: str = "", label: str | None = None
    ) -> NasgcnError:
        """``label`` names a part of ``key`` (``targets[0]``); ``value`` ``NO_VALUE`` leaves the value out."""
        name = label or key
        if key is None:
            head = f"[{section}]"
        elif value is NO_VALUE:
            head = f"[{section}] {name}"
        else:
            head = f"[{section}] {name} = {_toml_value(value)}"
        return NasgcnError(f"{self.at(section, key)}: {head}: {problem}" + (f" ({fix})" if fix else ""))


def _check_value(chk: _Check, sec: str, key: str, value: Any, opt: Opt) -> Any:
    default = opt.default
    kind = "true or false"
    ok: bool
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        if ok:
            value = float(value)
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "a string"
    elif isinstance(default, list):
        ok, kind = isinstance(value, list), "a list"
        if ok and opt.items is not None:
            for i, item in enumerate(value):
                if not isinstance(item, opt.items):
                    raise chk.fail(sec, key, value, f"item {i} must be a {opt.items.__name__}, got {item!r}")
    else:  # pragma: no cover - a schema without a default type
        ok = True
    if not ok:
        raise chk.fail(sec, key, value, f"must be {kind}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for bound, test, sign in (
            (opt.ge, lambda b: value >= b, "≥"),
            (opt.gt, lambda b: value > b, ">"),
            (opt.le, lambda b: value <= b, "≤"),
            (opt.lt, lambda b: value < b, "<"),
        ):
            if bound is not None and not test(bound):
                raise chk.fail(sec, key, value, f"must be {sign} {bound:g}")
    allowed = opt.allowed()
    if allowed is not None and value not in allowed:
        hint = _suggest(value, allowed).strip()
        raise chk.fail(sec, key, value, f"must be one of {', '.join(map(str, allowed))}", hint)
    return value


def _check_targets(chk: _Check, targets: list[Any]) -> list[dict[str, Any]]:
    out, names = [], set()
    for i, t in enumerate(targets):

        def bad(problem: str, fix: str = "", _i: int = i) -> NasgcnError:
            return chk.fail("query", "targets", NO_VALUE, problem, fix, label=f"targets[{_i}]")

        if not isinstance(t, dict):
            raise bad(f'must be a table like {{name = "small", max = {{flops_m = 20}}}}, got {t!r}')
        unknown = sorted(set(t) - set(TARGET_KEYS))
        if unknown:
            hint = "".join(_suggest(u, TARGET_KEYS) for u in unknown)
            raise bad(f"unknown key(s) {', '.join(unknown)}", f"{hint}known: name, max, min")
        name = t.get("name", f"target{i}")
        if not isinstance(name, str) or not name or name in names:
            raise bad(f"name must be a unique non-empty string, got {name!r}")
        names.add(name)
        bounds = {}
        for kind in ("max", "min"):
            b = t.get(kind, {})
            if not isinstance(b, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in b.values()
            ):
                raise bad(f"{kind} must map column names to numbers, got {b!r}")
            bounds[kind] = {str(k): float(v) for k, v in b.items()}
        out.append({"name": name, **bounds})
    return out


# ----------------------------------------------------------------------------------
# parsing
# ----------------------------------------------------------------------------------
def parse_config(
    data: Mapping[str, Any],
    path: str = "<config>",
    base_dir: Path | None = None,
    space: str | None = None,
    text: str = "",
) -> Config:
    """Fill defaults and validate the whole config; every problem names the file and the key.

    ``space`` overrides ``[space] name`` (``--space``); options of the file that only another
    space uses are then dropped with a note (:attr:`Config.notes`) instead of refused.
    ``text`` (the file's source) gives messages their line numbers.
    """
    chk = _Check(path, text)
    base = base_dir or Path.cwd()
    if space is not None:
        sec = data.get("space", {})
        data = {**data, "space": {**(sec if isinstance(sec, Mapping) else {}), "name": space}}
    sch = schema()
    unknown = [s for s in data if s not in sch]
    if unknown:
        s = unknown[0]
        raise NasgcnError(
            f"{chk.at(s)}: unknown section(s) [{'], ['.join(unknown)}] ({_suggest(s, sch)}known: {', '.join(sch)})"
        )
    sections: dict[str, dict[str, Any]] = {}
    for name, opts in sch.items():
        given = data.get(name, {})
        if not isinstance(given, Mapping):
            raise chk.fail(name, None, given, "must be a table of options ([section] followed by key = value lines)")
        bad = [k for k in given if k not in opts]
        if bad:
            k = bad[0]
            more = f"; also unknown: {', '.join(bad[1:])}" if bad[1:] else ""
            raise chk.fail(
                name, k, given[k], f"unknown key ({_suggest(k, opts)}[{name}] accepts: {', '.join(opts)}{more})"
            )
        sec = {k: o.default for k, o in opts.items()}
        for k, v in given.items():
            sec[k] = _check_value(chk, name, k, v, opts[k])
        sections[name] = sec
    if not _DEVICE.match(sections["run"]["device"]):
        raise chk.fail("run", "device", sections["run"]["device"], "must be cpu, cuda, cuda:N or mps")
    shift = sections["shift"]
    if shift["new_dataset"] not in ("", *DATASETS):
        raise chk.fail(
            "shift",
            "new_dataset",
            shift["new_dataset"],
            f"must be empty or one of {', '.join(DATASETS)}",
            _suggest(shift["new_dataset"], DATASETS).strip(),
        )
    sections["query"]["targets"] = _check_targets(chk, sections["query"]["targets"])
    _check_shifting(chk, shift)
    given = {name: tuple(sorted(data.get(name, {}))) for name in sch}
    notes = _check_space(chk, sections, given, lenient=space is not None)
    cfg = Config(sections, path, base, given, notes, text)
    _check_files_and_columns(chk, cfg)
    return cfg


_SHIFT_PIPELINE_KEYS = {"enabled", "target", "seeds", "evaluate_top", "new_dataset", "new_root"}


def shifting_options(shift: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[shift]`` keys that are :class:`supernet.shifting.ShiftingConfig` fields."""
    return {k: v for k, v in shift.items() if k not in _SHIFT_PIPELINE_KEYS}


def _check_shifting(chk: _Check, shift: Mapping[str, Any]) -> None:
    """The cross-key rules of :class:`ShiftingConfig` (keep ≤ population ...), named as config keys."""
    if shift["keep"] > shift["population"]:
        raise chk.fail("shift", "keep", shift["keep"], f"must be ≤ [shift] population ({shift['population']})")
    from .shifting import ShiftingConfig

    try:
        ShiftingConfig.from_dict(shifting_options(shift))
    except NasgcnError as err:
        raise NasgcnError(f"{chk.at('shift')}: [shift]: {err}") from None


def _check_space(
    chk: _Check, sections: dict[str, dict[str, Any]], given: Mapping[str, tuple[str, ...]], lenient: bool = False
) -> list[str]:
    """Resolve ``[space]`` and the space-dependent keys; refuse options the space has no use for.

    ``[table]`` becomes the space's macro options (its defaults where the file is silent), so
    the recorded config and the stage hashes say exactly which network the costs describe.
    ``lenient`` (the space was overridden on the command line, the file was written for another
    one): such options are dropped instead, and the returned notes say which.
    """
    notes: list[str] = []
    path = chk.path

    def refuse(message: str, section: str, key: str | None = None) -> None:
        if not lenient:
            raise NasgcnError(f"{chk.at(section, key)}: {message}")
        notes.append(f"{path}: ignored for --space {sections['space']['name']}: {message}")

    from predictor.spaces import get_space

    name = sections["space"]["name"]
    try:
        sp = get_space(name)
    except NasgcnError as err:
        raise NasgcnError(f"{chk.at('space', 'name')}: space.name: {err}") from None
    sections["space"]["name"] = sp.name
    macro = sp.macro_defaults()
    extra = [k for k in given["table"] if k in MACRO_KEYS and k not in macro]
    if extra:
        refuse(
            f"{', '.join(f'table.{k}' for k in extra)} is not a macro option of space {sp.name!r} "
            f"(its options: {', '.join(macro) or 'none'})",
            "table",
            extra[0],
        )
    table = {k: v for k, v in sections["table"].items() if k not in MACRO_KEYS}
    for k in MACRO_KEYS:
        if k in macro:
            table[k] = sections["table"][k] if k in given["table"] else macro[k]
    try:
        sp.costs(sp.sample(1, 0), {k: v for k, v in table.items() if k in macro})
    except NasgcnError as err:
        raise NasgcnError(f"{chk.at('table')}: [table]: {err}") from None
    sections["table"] = table
    if sp.enumerable and given.get("search"):
        refuse(f"[search] applies to spaces too large to tabulate; {sp.name!r} is tabulated in full", "search")
    names = _supernet_options(sp.name)
    if names is not None:
        for sec in ("supernet", "retrain"):
            bad = [k for k in given[sec] if k in MODEL_KEYS and k not in names]
            if bad:
                refuse(
                    f"{', '.join(f'{sec}.{k}' for k in bad)} does not apply to space {sp.name!r} "
                    f"(its supernet takes: {', '.join(k for k in MODEL_KEYS if k in names) or 'none of them'})",
                    sec,
                    bad[0],
                )
            # the recorded config (and the hashes) keep only the model options this space uses
            sections[sec] = {k: v for k, v in sections[sec].items() if k not in MODEL_KEYS or k in names}
    return notes


def _supernet_options(space: str) -> frozenset[str] | None:
    """Model options the space's supernet takes (None when the model registry is unavailable)."""
    try:
        from .models.registry import supernet_option_names
    except ImportError:  # pragma: no cover - torch missing: the supernet stages fail later anyway
        return None
    return supernet_option_names(space)


def hardware_columns(cfg: Config, chk: _Check | None = None) -> dict[str, tuple[str, ...]]:
    """``{file: columns}`` each ``[query] hardware`` file adds to the query's table (files are read)."""
    from predictor.search import load_cost_source

    chk = chk or _Check(cfg.path, cfg.text)
    out: dict[str, tuple[str, ...]] = {}
    files = cfg["query"]["hardware"]
    for i, p in enumerate(files):
        full = cfg.resolve(p)
        if not full.exists():
            raise chk.fail(
                "query",
                "hardware",
                p,
                f"points to {full}, which does not exist",
                "fix the path; relative paths are relative to the config file's folder",
                label=f"hardware[{i}]",
            )
        try:
            src = load_cost_source(full, cfg.space.name)
        except (NasgcnError, OSError, ValueError) as err:
            raise chk.fail("query", "hardware", p, str(err), label=f"hardware[{i}]") from None
        cols = set(src.columns)
        if cfg.space.enumerable and hasattr(src, "table"):  # joined whole by arch_str
            cols |= set(getattr(src.table, "columns", ()))
        else:
            cols |= {f"{c}_std" for c in src.columns}
        out[str(p)] = tuple(sorted(cols))
    return out


def _check_files_and_columns(chk: _Check, cfg: Config) -> None:
    """Files the stages read and the columns they constrain, checked before any stage runs."""
    from .stages import table_columns

    fit = cfg["fit"]
    for i, p in enumerate(fit["extra_logs"]):
        full = cfg.resolve(p)
        if not full.is_file():
            raise chk.fail(
                "fit",
                "extra_logs",
                p,
                f"points to {full}, which does not exist",
                "fix the path; relative paths are relative to the config file's folder",
                label=f"extra_logs[{i}]",
            )
    hw = hardware_columns(cfg, chk)
    columns = list(table_columns(cfg.space))
    for cols in hw.values():
        columns += [c for c in cols if c not in columns]
    targets = cfg["query"]["targets"] or [{"name": "any", "max": {}, "min": {}}]
    for i, t in enumerate(targets):
        for kind in ("max", "min"):
            for col in t[kind]:
                if col not in columns:
                    raise chk.fail(
                        "query",
                        "targets",
                        NO_VALUE,
                        f"{kind} column {col!r} of target {t['name']!r} is not a column of the query's table "
                        f"(columns: {', '.join(columns)})",
                        f"{_suggest(col, columns)}add a [query] hardware file that has it, or bound another column",
                        label=f"targets[{i}]",
                    )
    names = [t["name"] for t in targets]
    wanted = cfg["shift"]["target"]
    if wanted and wanted not in names:
        raise chk.fail(
            "shift",
            "target",
            wanted,
            f"not a [query] target; targets: {', '.join(names)}",
            f'{_suggest(wanted, names)}name one of them, or "" for the first',
        )


def check_data(cfg: Config, sections: Iterable[str] = ("data", "shift")) -> None:
    """Refuse a data folder that is missing, saying where the config pointed and how to fix it.

    Called before stages that read the data run (a finished run's report needs no data).
    """
    chk = _Check(cfg.path, cfg.text)
    specs = []
    if "data" in sections:
        specs.append(("data", "root", cfg["data"]["dataset"], cfg["data"]["root"]))
    if "shift" in sections and cfg["shift"]["new_dataset"]:
        specs.append(("shift", "new_root", cfg["shift"]["new_dataset"], cfg["shift"]["new_root"]))
    for sec, key, dataset, root in specs:
        if dataset == "npz":
            if not root:
                raise _data_error(
                    chk, cfg, sec, key, root, 'dataset "npz" needs a folder of *train*.npz / *test*.npz files'
                )
            full = cfg.resolve(root).resolve()
            if not full.is_dir():
                raise _data_error(chk, cfg, sec, key, root, f"points to {full}, which does not exist")
            if not any("train" in p.name.lower() for p in full.glob("*.npz")):
                raise _data_error(chk, cfg, sec, key, root, f"points to {full}, which has no *train*.npz file")
        elif dataset in ("cifar10", "cifar100") and root and not (sec == "data" and cfg["data"]["download"]):
            full = cfg.resolve(root).resolve()
            if not full.is_dir():
                more = ", or set download = true"
                raise _data_error(chk, cfg, sec, key, root, f"points to {full}, which does not exist", more)


def _data_error(chk: _Check, cfg: Config, sec: str, key: str, root: str, problem: str, more: str = "") -> NasgcnError:
    flag = cfg.overridden.get(f"{sec}.{key}")
    if flag:  # set on the command line: name the flag, not the file
        return NasgcnError(f"{flag} {root}: {problem} (pass a folder with the data files{more})")
    fix = f"edit [{sec}] {key} in {cfg.path}" + (", or pass --data-root DIR" if sec == "data" else "")
    return chk.fail(sec, key, root, problem, fix + more)


# ----------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------
_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


def _load_toml(text: str, path: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = str(err)
        m = _TOML_POS.search(msg)
        if m:
            where, problem = f"{path}:{m.group(1)}:{m.group(2)}", _TOML_POS.sub("", msg)
        elif _TOML_END.search(msg):  # the file stops inside a value: its last line
            where, problem = f"{path}:{text.count(chr(10)) + 1}", _TOML_END.sub(" (the file ends here)", msg)
        else:
            where, problem = path, msg
        raise NasgcnError(
            f"{where}: not valid TOML: {problem} (a cut-short file? compare it with supernet/configs/)"
        ) from None
    if not data:
        raise NasgcnError(
            f"{path}: empty config: no sections (start from a shipped one: `nasgcn demo --show-config`, supernet/configs/)"
        )
    if text and not text.endswith("\n"):
        logger.warning(
            "%s does not end with a newline: if it was cut short, restore it (missing keys take defaults)", path
        )
    return data


def load_config(path: str | os.PathLike, space: str | None = None) -> Config:
    """Read and validate a TOML config file (``space``: override its ``[space] name``)."""
    p = Path(path)
    if not p.is_file():
        raise NasgcnError(f"config file {p} not found")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise NasgcnError(f"{p}: not a UTF-8 text file ({err.reason} at byte {err.start})") from None
    return parse_config(_load_toml(text, str(p)), str(p), p.resolve().parent, space, text)


def builtin_config(name: str = "demo", space: str | None = None) -> Config:
    """A config shipped inside the package (``supernet/configs/<name>.toml``); relative paths resolve there."""
    ref = resources.files("supernet") / "configs" / f"{name}.toml"
    if not ref.is_file():
        raise NasgcnError(f"no built-in config {name!r}")
    text = ref.read_text(encoding="utf-8")
    data = _load_toml(text, f"<built-in {name}.toml>")
    base = Path(str(ref)).parent if isinstance(ref, os.PathLike) else None
    return parse_config(data, f"{name}.toml", base, space, text)

"""The run report: Markdown (optionally HTML) with PNG plots, written atomically.

Sections: how well the predictor matches the supernet (scatter, Kendall tau and the
evaluation protocol next to it), the Pareto front of every hardware target with the
picks, the shifting trajectory (best/mean score per generation, and the candidates'
scores before vs after shifting), and the final stand-alone accuracies.

Why a separate module: the pipeline's ``report`` stage only gathers directories;
everything about presentation lives here and works on whatever stages produced
(a disabled stage's section says so instead of failing).
"""

from __future__ import annotations

import html as _html
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from predictor.io import atomic_path, write_text_atomic

StageInput = tuple[Path, Mapping[str, Any]]  # (stage directory, its done.json record)


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)


def _read(path: Path) -> dict[str, np.ndarray] | None:
    from predictor.table import read_csv

    if not path.is_file():
        return None
    frame, _ = read_csv(path)
    return frame


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _tau(a: np.ndarray, b: np.ndarray) -> float | None:
    from predictor.metrics import kendall_tau

    ok = np.isfinite(a) & np.isfinite(b)
    return float(kendall_tau(a[ok], b[ok])) if ok.sum() > 2 else None


# ----------------------------------------------------------------------------------
# plots
# ----------------------------------------------------------------------------------
def plot_predicted_vs_supernet(y: np.ndarray, pred: np.ndarray, path: Path, tau: float | None) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.scatter(y, pred, s=14, alpha=0.7)
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")
    ax.set_xlabel("supernet accuracy (%)")
    ax.set_ylabel("GCN prediction (%)")
    ax.set_title(f"held-out architectures, Kendall tau = {_fmt(tau)}")
    _save(fig, path)


def plot_pareto(
    table: Mapping[str, np.ndarray] | None,
    front: Mapping[str, np.ndarray],
    cost: str,
    path: Path,
    title: str,
    picks: Mapping[str, tuple[float, float]] | None = None,
    budget: float | None = None,
    population: str = "all architectures",
) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    if table is not None and cost in table:
        ax.scatter(table[cost], table["pred"], s=3, color="lightgrey", label=population, rasterized=True)
    order = np.argsort(front[cost])
    ax.plot(front[cost][order], front["pred"][order], "o-", color="tab:blue", ms=4, label="Pareto front")
    if budget is not None:
        ax.axvline(budget, color="tab:red", ls=":", lw=1, label=f"budget {cost} <= {budget:g}")
    for (name, (x, yv)), mk in zip((picks or {}).items(), "*DsP^v", strict=False):
        ax.scatter([x], [yv], marker=mk, s=90, zorder=5, label=name, edgecolor="black")
    ax.set_xlabel(cost)
    ax.set_ylabel("predicted accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    _save(fig, path)


def plot_trajectory(traj: list[Mapping[str, Any]], path: Path) -> None:
    plt = _plt()
    gens = [r["generation"] for r in traj]
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    for r in traj:
        sc = [c["score"] for c in r["candidates"]]
        ax.scatter([r["generation"]] * len(sc), sc, s=8, color="lightgrey")
    ax.plot(gens, [r["best_score"] for r in traj], "o-", label="best")
    ax.plot(gens, [r["mean_score"] for r in traj], "s--", label="mean")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel("validation accuracy (%) after shifting steps")
    ax.set_title("Supernet Shifting trajectory")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_before_after(rank: Mapping[str, np.ndarray], path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.8, 4.0))
    if np.isfinite(rank["supernet_before"]).any():
        ax.scatter(rank["pred"], rank["supernet_before"], s=16, label="before shifting")
    ax.scatter(rank["pred"], rank["supernet_after"], s=16, marker="^", label="after shifting")
    ax.set_xlabel("GCN prediction (%)")
    ax.set_ylabel("supernet accuracy (%)")
    ax.set_title("top candidates: supernet scores")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_retrained(rows: list[Mapping[str, Any]], path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(rows) + 2), 3.6))
    labels = [f"{r['origin']}\n#{i}" for i, r in enumerate(rows)]
    vals = [r["test_acc"] for r in rows]
    colors = ["tab:green" if r["origin"] == "shifting" else "tab:orange" for r in rows]
    bars = ax.bar(labels, vals, color=colors)
    for b, v in zip(bars, vals, strict=True):
        ax.text(b.get_x() + b.get_width() / 2, v, f"{v:.1f}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(f"{rows[0].get('split', 'test')} accuracy (%)")
    ax.set_title("stand-alone retraining of the final picks")
    ax.set_ylim(0, max(100.0, max(vals) * 1.05))
    _save(fig, path)


# ----------------------------------------------------------------------------------
# the document
# ----------------------------------------------------------------------------------
def write_report(
    out_dir: str | os.PathLike,
    inputs: Mapping[str, StageInput],
    config: Mapping[str, Any] | None = None,
    html: bool = False,
) -> dict[str, Any]:
    """Write ``report.md`` (+ ``report.html``) and PNGs into ``out_dir``.

    ``inputs`` maps stage names (label, fit, table, query, shift, retrain) to their
    directory and ``done.json`` record; missing stages are skipped.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    md: list[str] = []
    config = config or {}
    run = config.get("run", {})
    md.append(f"# nasgcn run report: {run.get('name', 'run')}\n")
    data = config.get("data", {})
    sp = _space(config)
    md.append(f"Search space `{sp.name}`: {_space_line(sp)}\n")
    md.append(
        f"Dataset `{data.get('dataset', '?')}`, seed {run.get('seed', '?')}. Stages and their cached directories:\n"
    )
    md.append("| stage | seconds | resumed | outputs |\n|---|---|---|---|")
    for name, (d, rec) in inputs.items():
        md.append(f"| {name} | {_fmt(rec.get('seconds'), 1)} | {rec.get('resumed', False)} | `{d.name}` |")
    md.append("")

    # --- predictor ---------------------------------------------------------------
    md.append("## Predicted vs supernet accuracy\n")
    label = inputs.get("label")
    fit = inputs.get("fit")
    if label:
        lo = label[1]["outputs"]
        md.append(f"Labels: {lo.get('n')} architectures. Protocol: {lo.get('protocol')}.\n")
    hold = _read(fit[0] / "holdout.csv") if fit else None
    if hold is not None and len(hold["pred"]) > 2:
        tau = _tau(hold["supernet_acc"], hold["pred"])
        plot_predicted_vs_supernet(hold["supernet_acc"], hold["pred"], out / "predicted_vs_supernet.png", tau)
        files.append("predicted_vs_supernet.png")
        fo = fit[1]["outputs"]
        md.append(
            f"Kendall tau = **{_fmt(tau)}**, Spearman = {_fmt(fo.get('holdout_spearman'))} on {len(hold['pred'])} "
            f"held-out architectures. Protocol: {fo.get('protocol')}.\n"
        )
        md.append("![predicted vs supernet](predicted_vs_supernet.png)\n")
    else:
        md.append("_Too few labels for a held-out evaluation._\n")

    # --- query / pareto -------------------------------------------------------------
    md.append("## Hardware targets: Pareto fronts and picks\n")
    query = inputs.get("query")
    shift = inputs.get("shift")
    retrain = inputs.get("retrain")
    shift_out = shift[1]["outputs"] if shift else {}
    table = _read(query[0] / "table.csv") if query else None
    table_stage = inputs.get("table")
    t_out = table_stage[1].get("outputs", {}) if table_stage else {}
    if t_out.get("kind") == "search":
        md.append(
            f"The space is too large to tabulate: the table holds {t_out.get('rows')} architectures (each "
            f"target's best and Pareto front) of {t_out.get('scored')} scored by a search over the predictor "
            "(`nasgcn search`: evolution and local search, one per isomorphism class).\n"
        )
    elif t_out.get("rows"):
        md.append(f"Lookup table of all {t_out.get('rows'):,} architectures.\n")
    if query:
        md.append("| target | constraints | candidates | lookup pick | predicted % |\n|---|---|---|---|---|")
        for t in query[1]["outputs"]["targets"]:
            cons = ", ".join(
                [f"{k} <= {v:g}" for k, v in t["max"].items()] + [f"{k} >= {v:g}" for k, v in t["min"].items()]
            )
            best = t.get("best") or {}
            md.append(
                f"| {t['name']} | {cons or 'none'} | {t['n_candidates']} | {_code(best.get('arch_str', '-'))} | "
                f"{_fmt(best.get('pred'), 2)} |"
            )
        md.append("")
        for t in query[1]["outputs"]["targets"]:
            front = _read(query[0] / t["pareto"])
            if front is None or not len(front["pred"]) or table is None:
                continue
            cost = t["cost"]
            picks: dict[str, tuple[float, float]] = {}
            index = {a: i for i, a in enumerate(table["arch_str"])}

            def mark(
                name: str, arch: str | None, _cost: str = cost, _index: dict = index, _picks: dict = picks
            ) -> None:
                if arch and arch in _index and _cost in table:
                    i = _index[arch]
                    _picks[name] = (float(table[_cost][i]), float(table["pred"][i]))

            if t.get("best"):
                mark("lookup pick", t["best"]["arch_str"])
            if shift_out.get("target") == t["name"]:
                mark("shifting pick", shift_out.get("best_arch"))
            fname = f"pareto_{_safe(t['name'])}.png"
            population = "searched architectures" if t_out.get("kind") == "search" else "all architectures"
            plot_pareto(table, front, cost, out / fname, f"target {t['name']}", picks, t["max"].get(cost), population)
            files.append(fname)
            md.append(f"### {t['name']}\n\n![pareto {t['name']}]({fname})\n")

    # --- shifting ----------------------------------------------------------------------
    md.append("## Supernet Shifting\n")
    if shift and shift_out.get("trajectory"):
        traj_path = shift[0] / shift_out["trajectory"]
        traj = [json.loads(line) for line in traj_path.read_text().splitlines() if line.strip()]
        if traj:
            plot_trajectory(traj, out / "shifting_trajectory.png")
            files.append("shifting_trajectory.png")
        md.append(
            f"Target `{shift_out.get('target')}`; {shift_out.get('generations')} generations, "
            f"{shift_out.get('visited')} candidates visited, each trained for a few SGD steps on the supernet "
            f"before being scored. Best: `{shift_out.get('best_arch')}` ({_fmt(shift_out.get('best_score'), 2)} %). "
            f"Protocol: {shift_out.get('protocol')}."
            + (f" Transfer to `{shift_out['transfer']}` (classifier reset)." if shift_out.get("transfer") else "")
            + "\n"
        )
        md.append("![trajectory](shifting_trajectory.png)\n")
        rank = _read(shift[0] / shift_out["ranking"])
        if rank is not None and len(rank["pred"]):
            plot_before_after(rank, out / "shifting_before_after.png")
            files.append("shifting_before_after.png")
            md.append(
                "Kendall tau between the GCN prediction and the supernet score of the query's top "
                f"{len(rank['pred'])} candidates: before shifting {_fmt(shift_out.get('tau_pred_vs_before'))}, "
                f"after {_fmt(shift_out.get('tau_pred_vs_after'))}; before vs after "
                f"{_fmt(shift_out.get('tau_before_vs_after'))}.\n"
            )
            md.append("![before/after](shifting_before_after.png)\n")
    else:
        md.append("_Shifting was disabled._\n")

    # --- retraining ----------------------------------------------------------------------
    md.append("## Final stand-alone accuracies\n")
    rows = retrain[1]["outputs"].get("results") if retrain else None
    if rows:
        plot_retrained(rows, out / "retrained.png")
        files.append("retrained.png")
        costs = _costs(sp, [r["arch_str"] for r in rows], config.get("table", {}))
        head = "".join(f" {c} |" for c in costs)
        md.append(
            f"| # | origin | architecture | accuracy % | split | epochs |{head}\n|---|---|---|---|---|---|"
            + "---|" * len(costs)
        )
        for i, r in enumerate(rows):
            extra = "".join(f" {_fmt(float(v[i]), 3)} |" for v in costs.values())
            md.append(
                f"| {i} | {r['origin']} | {_code(r['arch_str'])} | {_fmt(r['test_acc'], 2)} | {r['split']} | "
                f"{r['epochs']} |{extra}"
            )
        md.append("\n![retrained](retrained.png)\n")
    else:
        md.append("_Retraining was disabled._\n")

    text = "\n".join(md) + "\n"
    write_text_atomic(out / "report.md", text)
    files.append("report.md")
    paths: dict[str, Any] = {"markdown": "report.md", "files": files}
    if html:
        write_text_atomic(out / "report.html", markdown_to_html(text))
        files.append("report.html")
        paths["html"] = "report.html"
    return paths


def _space(config: Mapping[str, Any]) -> Any:
    """The run's search space (``[space] name``; ``nb201`` for configs from before spaces)."""
    from predictor.spaces import get_space

    return get_space(config.get("space", {}).get("name", "nb201"))


def _space_line(sp: Any) -> str:
    size = f"{sp.size:,}" if sp.enumerable else f"{float(sp.size):.2e}"
    classes = f", {sp.num_unique:,} up to isomorphism" if sp.enumerable else ""
    return f"{size} architectures{classes}; {sp.num_slots} slots x {len(sp.ops)} ops ({', '.join(sp.ops)})."


def _costs(sp: Any, archs: list[str], table_cfg: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Exact cost columns of ``archs`` for the macro network of ``[table]`` (as the lookup table has them)."""
    macro = {k: v for k, v in table_cfg.items() if k in sp.macro_defaults()}
    try:
        c = sp.costs(sp.encode(archs), macro)
    except Exception:  # noqa: BLE001 - a report never fails on a cost column
        return {}
    return {k: np.asarray(c[k], dtype=np.float64) for k in ("params_m", "flops_m") if k in c}


def _code(arch: Any) -> str:
    """An architecture string as inline code that survives inside a Markdown table cell."""
    return "`" + str(arch).replace("|", "\\|") + "`"


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def markdown_to_html(text: str) -> str:
    """A minimal converter for the report's own Markdown (headings, tables, images, paragraphs)."""
    import re

    out = [
        "<!doctype html><meta charset='utf-8'><title>nasgcn report</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}td,th{border:1px solid #ccc;padding:2px 6px}"
        "table{border-collapse:collapse}</style>",
    ]
    in_table = False

    def inline(s: str) -> str:
        s = _html.escape(s)
        s = re.sub(r"!\[([^\]]*)\]\(([^)]+)\)", r"<img alt='\1' src='\2'>", s)
        s = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)
        s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
        return re.sub(r"_([^_]+)_", r"<i>\1</i>", s) if s.startswith("_") else s

    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
            if all(set(c) <= {"-"} for c in cells):
                continue
            if not in_table:
                out.append("<table>")
                in_table = True
            out.append("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{inline(line[level:].strip())}</h{level}>")
        elif line.strip():
            out.append(f"<p>{inline(line)}</p>")
    if in_table:
        out.append("</table>")
    return "\n".join(out) + "\n"

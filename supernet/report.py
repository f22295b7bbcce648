"""The run report: HTML and Markdown rendered from Jinja2 templates, with PNG plots, written atomically.

Sections, each opened by the question it answers: can the predictor's ranking be trusted
(held-out scatter), what does each hardware target's budget buy (Pareto front, picks, the
labelled architectures), does Supernet Shifting find better architectures (trajectory, the
predictor's top candidates before vs after), and which pick trains best stand-alone (dot plot
with standard errors, ties said as ties). Every figure has a caption that states its finding,
computed from the stage outputs.

Why a separate module: the pipeline's ``report`` stage only gathers directories; what to say
lives here, drawing in :mod:`supernet.report_plots`, layout in ``supernet/templates/``. A
disabled or missing stage's section says so instead of failing.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from predictor.io import write_text_atomic

from . import report_plots as rp

log = logging.getLogger(__name__)

StageInput = tuple[Path, Mapping[str, Any]]  # (stage directory, its done.json record)
Block = dict[str, Any]  # {"kind": "p" | "table" | "figure" | "missing", ...}


# ----------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------
def _read(path: Path) -> dict[str, np.ndarray] | None:
    """A stage's CSV as numpy columns, or None (with a log line) when it is absent or unreadable."""
    from predictor.errors import NasgcnError
    from predictor.table import read_csv

    if not path.is_file():
        return None
    try:
        frame, _ = read_csv(path)
    except (NasgcnError, OSError, ValueError) as err:
        log.warning("report: skipping %s (%s)", path, err)
        return None
    return frame


def _num(frame: Mapping[str, Any], col: str) -> np.ndarray:
    return np.asarray(frame[col], dtype=np.float64)


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.{nd}f}"
    return str(v)


def _tau(a: np.ndarray, b: np.ndarray) -> float | None:
    from predictor.metrics import kendall_tau

    ok = np.isfinite(a) & np.isfinite(b)
    return float(kendall_tau(a[ok], b[ok])) if ok.sum() > 2 else None


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def _p(text: str) -> Block:
    """A paragraph; `backticks` mark code (architecture strings, names)."""
    return {"kind": "p", "text": text}


def _figure(fig: rp.Figure, alt: str, finding: str, notes: Sequence[str] = ()) -> Block:
    return {
        "kind": "figure",
        "file": fig.file,
        "alt": alt,
        "finding": finding,
        "notes": " ".join(n for n in notes if n),
    }


def _ties(values: Sequence[float], nd: int = 2) -> list[list[int]]:
    """Groups (of indices, >= 2 long) whose values are equal at the printed precision."""
    groups: dict[str, list[int]] = {}
    for i, v in enumerate(values):
        groups.setdefault(f"{float(v):.{nd}f}", []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def _clip_note(fig: rp.Figure) -> str:
    if not fig.clipped:
        return ""
    return f"{fig.clipped} value(s) outside 0-100 % (the predictor extrapolating) are drawn at the edge of the axis."


# ----------------------------------------------------------------------------------
# sections
# ----------------------------------------------------------------------------------
def _predictor_section(inputs: Mapping[str, StageInput], out: Path, drawn: list[rp.Figure]) -> dict[str, Any]:
    blocks: list[Block] = []
    label, fit = inputs.get("label"), inputs.get("fit")
    if label:
        lo = label[1].get("outputs", {})
        blocks.append(_p(f"Labels: {lo.get('n')} architectures. Protocol: {lo.get('protocol')}."))
    hold = _read(fit[0] / "holdout.csv") if fit else None
    if hold is None or len(hold.get("pred", ())) <= 2:
        blocks.append({"kind": "missing", "text": "Too few labels for a held-out evaluation."})
        return _section(
            "predictor", "Predicted vs supernet accuracy", "Can the predictor's ranking be trusted?", blocks
        )
    y, pred = _num(hold, "supernet_acc"), _num(hold, "pred")
    tau = _tau(y, pred)
    fo = fit[1].get("outputs", {})
    blocks.append(
        _p(
            f"Kendall tau = {_fmt(tau)}, Spearman = {_fmt(fo.get('holdout_spearman'))} on {len(pred)} held-out "
            f"architectures. Protocol: {fo.get('protocol')}."
        )
    )
    fig = rp.plot_holdout(y, pred, out / "predicted_vs_supernet.png")
    drawn.append(fig)
    err = np.abs(pred - y)
    ok = np.isfinite(err)
    within = int((err[ok] <= 2.0).sum())
    verdict = (
        "ranks them much like the supernet"
        if (tau or 0) >= 0.6
        else (
            "ranks them only roughly like the supernet" if (tau or 0) >= 0.3 else "barely ranks them like the supernet"
        )
    )
    finding = (
        f"On {len(pred)} architectures it never saw, the GCN {verdict} (Kendall tau {_fmt(tau, 2)}); its "
        f"predictions are off by {np.nanmean(err):.1f} points on average, {within} of {int(ok.sum())} within 2 points."
    )
    blocks.append(_figure(fig, "predicted vs supernet accuracy", finding, [_clip_note(fig)]))
    return _section("predictor", "Predicted vs supernet accuracy", "Can the predictor's ranking be trusted?", blocks)


def _constraint_text(t: Mapping[str, Any]) -> str:
    parts = [f"{k} <= {v:g}" for k, v in t.get("max", {}).items()] + [
        f"{k} >= {v:g}" for k, v in t.get("min", {}).items()
    ]
    return ", ".join(parts) or "none"


def _labelled(inputs: Mapping[str, StageInput], sp: Any, table_cfg: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """The supernet-measured labels with their exact costs (to show how far picks extrapolate)."""
    label = inputs.get("label")
    if not label:
        return None
    frame = _read(label[0] / str(label[1].get("outputs", {}).get("labels", "labels.csv")))
    if frame is None or "supernet_acc" not in frame:
        return None
    archs = [str(a) for a in frame["arch_str"]]
    out = {"arch_str": np.asarray(archs, dtype=object), "acc": _num(frame, "supernet_acc")}
    out.update(_costs(sp, archs, table_cfg))
    return out


def _pareto_section(
    inputs: Mapping[str, StageInput], config: Mapping[str, Any], sp: Any, out: Path, drawn: list[rp.Figure]
) -> dict[str, Any]:
    title, question = (
        "Hardware targets: Pareto fronts and picks",
        "What does each budget buy, and which architecture to pick?",
    )
    blocks: list[Block] = []
    query, shift, table_stage = inputs.get("query"), inputs.get("shift"), inputs.get("table")
    shift_out = shift[1].get("outputs", {}) if shift else {}
    t_out = table_stage[1].get("outputs", {}) if table_stage else {}
    searched = t_out.get("kind") == "search"
    if searched:
        blocks.append(
            _p(
                f"The space is too large to tabulate: the table holds {t_out.get('rows')} architectures (each "
                f"target's best and Pareto front) of {t_out.get('scored')} scored by a search over the predictor "
                "(`nasgcn search`: evolution and local search, one per isomorphism class)."
            )
        )
    elif t_out.get("rows"):
        blocks.append(_p(f"Lookup table of all {t_out.get('rows'):,} architectures, predicted by the GCN."))
    if not query:
        blocks.append({"kind": "missing", "text": "The query stage did not run."})
        return _section("pareto", title, question, blocks)
    targets = query[1].get("outputs", {}).get("targets", [])
    rows = []
    for t in targets:
        best = t.get("best") or {}
        rows.append(
            {
                "target": t["name"],
                "constraints": _constraint_text(t),
                "candidates": str(t.get("n_candidates", "")),
                "pick": str(best.get("arch_str", "-")),
                "pred": f"{_fmt(best.get('pred'), 2)} ± {_fmt(best.get('pred_std'), 2)}" if best else "-",
            }
        )
    blocks.append(
        _table(
            [
                ("target", "target"),
                ("constraints", "constraints"),
                ("candidates", "candidates"),
                ("pick", "lookup pick", "code"),
                ("pred", "predicted % ± std", "num"),
            ],
            rows,
        )
    )
    table = _read(query[0] / str(query[1].get("outputs", {}).get("table", "table.csv")))
    labelled = _labelled(inputs, sp, config.get("table", {}))
    population = "searched architectures" if searched else "all architectures"
    for t in targets:
        front = _read(query[0] / t["pareto"]) if t.get("pareto") else None
        cost = t.get("cost")
        if front is None or not len(front.get("pred", ())) or cost not in front:
            continue
        index = {a: i for i, a in enumerate(table["arch_str"])} if table is not None else {}
        picks: dict[str, tuple[float, float]] = {}
        best = t.get("best") or {}
        if best.get("arch_str") and cost in best:
            picks["lookup pick"] = (float(best[cost]), float(best["pred"]))
        if shift_out.get("target") == t["name"] and shift_out.get("best_arch") in index and cost in table:
            i = index[shift_out["best_arch"]]
            picks["shifting pick"] = (float(table[cost][i]), float(table["pred"][i]))
        measured = None
        if labelled is not None and cost in labelled:
            measured = (labelled[cost], labelled["acc"])
        budget = t.get("max", {}).get(cost)
        fname = f"pareto_{_safe(t['name'])}.png"
        fig = rp.plot_pareto(table, front, cost, out / fname, budget, picks, measured, population)
        drawn.append(fig)
        finding, notes = _pareto_caption(t, front, cost, labelled, fig)
        blocks.append({"kind": "h3", "text": t["name"]})
        blocks.append(_figure(fig, f"pareto {t['name']}", finding, notes))
    return _section("pareto", title, question, blocks)


def _pareto_caption(
    t: Mapping[str, Any],
    front: Mapping[str, np.ndarray],
    cost: str,
    labelled: Mapping[str, np.ndarray] | None,
    fig: rp.Figure,
) -> tuple[str, list[str]]:
    """The finding for one target: the pick against the best labelled architecture in budget; then the front."""
    unit = rp.cost_unit(cost)
    best = t.get("best") or {}
    fx = np.sort(_num(front, cost))
    finding = f"No architecture satisfies {_constraint_text(t)}."
    if best:
        p, s = float(best["pred"]), float(best.get("pred_std") or 0.0)
        finding = f"The pick ({float(best.get(cost, np.nan)):.3g} {unit}) is predicted {p:.2f} ± {s:.2f} %"
        m = _best_labelled(t, labelled)
        if m is not None:
            d = p - m
            finding += (
                f", {abs(d):.2f} points {'above' if d >= 0 else 'below'} the best labelled architecture in budget "
                f"({m:.2f} %, measured on the supernet)"
            )
            if abs(d) <= s:
                finding += ", within 1 std"
            elif d > 0:
                finding += f", {d / s:.0f}x its std: an extrapolation" if s > 0 else ": an extrapolation"
        if p > 100.0:
            finding += "; above 100 % it can only be read as a rank"
    notes = [
        f"Front: {len(fx)} architecture(s), {fx[0]:.3g}-{fx[-1]:.3g} {unit}; nothing costlier is predicted better."
        if len(fx) > 1
        else f"Front: one architecture ({fx[0]:.3g} {unit}); nothing costlier is predicted better.",
        f"Accuracy axis zoomed to {fig.ylim[0]:.1f}-{fig.ylim[1]:.1f} %"
        + (f" ({fig.hidden:,} weaker architectures below it not shown)." if fig.hidden else "."),
        "Shaded: over the budget." if t.get("max", {}).get(cost) is not None else "",
        _clip_note(fig),
    ]
    return finding + ".", notes


def _best_labelled(t: Mapping[str, Any], labelled: Mapping[str, np.ndarray] | None) -> float | None:
    """The best supernet-measured label among architectures inside the target's constraints."""
    cons = {**t.get("max", {}), **t.get("min", {})}
    if labelled is None or not all(k in labelled for k in cons):
        return None
    ok = np.isfinite(labelled["acc"])
    for k, v in t.get("max", {}).items():
        ok &= labelled[k] <= v
    for k, v in t.get("min", {}).items():
        ok &= labelled[k] >= v
    return float(labelled["acc"][ok].max()) if ok.any() else None


def _shift_section(
    inputs: Mapping[str, StageInput], config: Mapping[str, Any], out: Path, drawn: list[rp.Figure]
) -> dict[str, Any]:
    title, question = "Supernet Shifting", "Does shifting find architectures the lookup missed?"
    shift = inputs.get("shift")
    shift_out = shift[1].get("outputs", {}) if shift else {}
    if not (shift and shift_out.get("trajectory")):
        return _section("shift", title, question, [{"kind": "missing", "text": "Shifting was disabled."}])
    blocks: list[Block] = []
    scfg = config.get("shift", {}) or shift[1].get("inputs", {}).get("sections", {}).get("shift", {})
    steps = scfg.get("steps_per_candidate")
    blocks.append(
        _p(
            f"Target `{shift_out.get('target')}`; {shift_out.get('generations')} generations, "
            f"{shift_out.get('visited')} candidates visited, each fine-tuned for "
            f"{steps if steps else 'a few'} SGD steps on the shared supernet weights before being scored. "
            f"Protocol: {shift_out.get('protocol')}."
            + (f" Transfer to `{shift_out['transfer']}` (classifier reset)." if shift_out.get("transfer") else "")
        )
    )
    final = _read(shift[0] / str(shift_out.get("final", "final.csv")))
    best_line = f"Best: `{shift_out.get('best_arch')}` ({_fmt(shift_out.get('best_score'), 2)} %)."
    if final is not None and len(final.get("shifted_score", ())):
        sc = _num(final, "shifted_score")
        tied = [i for i in range(len(sc)) if f"{sc[i]:.2f}" == f"{sc.max():.2f}"]
        if len(tied) > 1:
            best_line += (
                f" A tie: {len(tied)} of the {len(sc)} final candidates score {sc.max():.2f} %; the first listed is "
                "taken, the others are as good on this evidence: "
                + ", ".join(f"`{final['arch_str'][i]}`" for i in tied[1:])
                + "."
            )
    blocks.append(_p(best_line))
    traj = _trajectory(shift[0] / shift_out["trajectory"])
    if traj:
        fig = rp.plot_trajectory(traj, out / "shifting_trajectory.png", steps)
        drawn.append(fig)
        blocks.append(_figure(fig, "shifting trajectory", *_trajectory_caption(traj, fig)))
    rank = _read(shift[0] / str(shift_out.get("ranking", "ranking.csv")))
    if rank is not None and len(rank.get("pred", ())):
        fig = rp.plot_shift_ranking(rank, out / "shifting_before_after.png")
        drawn.append(fig)
        before, after = _num(rank, "supernet_before"), _num(rank, "supernet_after")
        n = len(after)
        tb, ta = shift_out.get("tau_pred_vs_before"), shift_out.get("tau_pred_vs_after")
        if np.isfinite(before).any():
            finding = (
                f"Shifting moved the supernet's mean score of the GCN's top {n} from {np.nanmean(before):.1f} to "
                f"{np.nanmean(after):.1f} %, and its agreement with the GCN's order from Kendall tau {_fmt(tb, 2)} "
                f"to {_fmt(ta, 2)} ({'closer' if (ta or 0) > (tb or 0) else 'not closer'}); before vs after: tau "
                f"{_fmt(shift_out.get('tau_before_vs_after'), 2)}."
            )
        else:
            finding = f"Supernet scores of the GCN's top {n} after shifting (Kendall tau with the GCN {_fmt(ta, 2)})."
        blocks.append(
            _figure(
                fig,
                "before/after shifting",
                finding,
                [
                    f"Accuracy axis {fig.ylim[0]:.1f}-{fig.ylim[1]:.1f} %; a grey line joins one candidate's two scores.",
                    _clip_note(fig),
                ],
            )
        )
    return _section("shift", title, question, blocks)


def _trajectory(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _trajectory_caption(traj: Sequence[Mapping[str, Any]], fig: rp.Figure) -> tuple[str, list[str]]:
    so_far = fig.extra["best_so_far"]
    best = [float(r["best_score"]) for r in traj]
    first = [i for i, v in enumerate(so_far) if v >= so_far[-1]][0]
    drops = sum(1 for i in range(1, len(best)) if best[i] < best[i - 1])
    if so_far[-1] > so_far[0]:
        finding = (
            f"The best score so far rose from {so_far[0]:.2f} % (generation {traj[0]['generation']}) to "
            f"{so_far[-1]:.2f} % (reached in generation {traj[first]['generation']})"
        )
    else:
        finding = f"No generation beat the first one's best ({so_far[0]:.2f} %)"
    if drops:
        finding += (
            f"; a generation's best fell {drops} time(s): each generation scores new candidates (mutations, "
            "crossovers, random ones) while the best found so far are kept as parents"
        )
    return finding + ".", [f"Accuracy axis {fig.ylim[0]:.1f}-{fig.ylim[1]:.1f} %; dots are candidates, jittered."]


def _retrain_section(
    inputs: Mapping[str, StageInput], config: Mapping[str, Any], sp: Any, out: Path, drawn: list[rp.Figure]
) -> dict[str, Any]:
    title, question = "Final stand-alone accuracies", "Which pick trains best on its own, and by how much?"
    retrain = inputs.get("retrain")
    rows = retrain[1].get("outputs", {}).get("results") if retrain else None
    if not rows:
        return _section("retrain", title, question, [{"kind": "missing", "text": "Retraining was disabled."}])
    images = _retrain_images(retrain)
    acc = np.array([float(r["test_acc"]) for r in rows])
    err = rp.binomial_std(acc, images)
    costs = _costs(sp, [str(r["arch_str"]) for r in rows], config.get("table", {}))
    cols: list[tuple[str, ...]] = [
        ("i", "#", "num"),
        ("origin", "origin"),
        ("arch", "architecture", "code"),
        ("acc", "accuracy %", "num"),
        ("split", "split"),
        ("epochs", "epochs", "num"),
    ]
    cols += [(c, rp.cost_label(c), "num", c) for c in costs]
    trow = []
    for i, r in enumerate(rows):
        d = {
            "i": str(i),
            "origin": str(r["origin"]),
            "arch": str(r["arch_str"]),
            "split": str(r.get("split", "")),
            "epochs": str(r.get("epochs", "")),
            "acc": f"{acc[i]:.2f}" + (f" ± {err[i]:.2f}" if np.isfinite(err[i]) else ""),
        }
        d.update({c: _fmt(float(v[i]), 3) for c, v in costs.items()})
        trow.append(d)
    blocks: list[Block] = [_table(cols, trow, note=_units_note(costs))]
    split = str(rows[0].get("split", "test"))
    xlabel = f"stand-alone {split} accuracy (%)" + (f", {images} images" if images else "")
    main = "flops_m" if "flops_m" in costs else next(iter(costs), None)
    labels = [
        f"#{i} {r['origin']}"
        + (f"\n{costs[main][i]:.3g} {rp.cost_unit(main)}" if main and np.isfinite(costs[main][i]) else "")
        for i, r in enumerate(rows)
    ]
    fig = rp.plot_retrained(
        labels, acc, err, [str(r["origin"]) for r in rows], out / "retrained.png", xlabel, _ties(acc)
    )
    drawn.append(fig)
    blocks.append(_figure(fig, "retrained", *_retrain_caption(rows, acc, err, images, fig)))
    return _section("retrain", title, question, blocks)


def _retrain_images(retrain: StageInput) -> int | None:
    """Images behind each retrained accuracy (from the retrain log's ``images`` column)."""
    frame = _read(retrain[0] / str(retrain[1].get("outputs", {}).get("log", "retrain.csv")))
    if frame is None or "images" not in frame:
        return None
    n = _num(frame, "images")
    return int(n[0]) if len(n) and np.isfinite(n[0]) and n[0] > 0 else None


def _retrain_caption(
    rows: Sequence[Mapping[str, Any]], acc: np.ndarray, err: np.ndarray, images: int | None, fig: rp.Figure
) -> tuple[str, list[str]]:
    top = int(np.argmax(acc))
    ties = _ties(acc)
    top_tie = next((g for g in ties if top in g), None)
    if top_tie:
        who = ", ".join(f"#{i} ({rows[i]['origin']})" for i in top_tie)
        finding = f"A tie at the top: {who} {'both' if len(top_tie) == 2 else 'all'} score {acc[top]:.2f} %"
        if images:
            finding += f" ({round(acc[top] * images / 100)} of {images} images)"
    else:
        finding = f"Best stand-alone: #{top} ({rows[top]['origin']} pick) at {acc[top]:.2f} %"
    if len(acc) > 1:
        spread = float(acc.max() - acc.min())
        se = float(np.nanmax(err)) if np.isfinite(err).any() else None
        finding += f"; all {len(acc)} lie within {spread:.2f} points"
        if se:
            finding += (
                f", {'less than' if spread < 2 * se else 'more than'} two standard errors (± {se:.2f}), so the "
                + ("order is not resolved by this measurement" if spread < 2 * se else "best is distinguishable")
            )
    other = [g for g in ties if g is not top_tie]
    for g in other:
        finding += "; " + " and ".join(f"#{i}" for i in g) + f" tie at {acc[g[0]]:.2f} %"
    notes = [
        f"Accuracy axis zoomed to {fig.xlim[0]:.2f}-{fig.xlim[1]:.2f} %;"
        + (" bars: ± 1 standard error of a proportion measured on that many images." if images else "")
    ]
    return finding + ".", notes


def _units_note(costs: Mapping[str, Any]) -> str:
    if not costs:
        return ""
    return "; ".join(f"{c}: {rp.cost_label(c)}" for c in costs) + " (exact, of the deployed network)."


# ----------------------------------------------------------------------------------
# the document
# ----------------------------------------------------------------------------------
def _section(sid: str, title: str, question: str, blocks: list[Block]) -> dict[str, Any]:
    return {"id": sid, "title": title, "question": question, "blocks": blocks}


def _table(columns: Sequence[tuple[str, ...]], rows: list[dict[str, str]], note: str = "") -> Block:
    """columns: (key, label[, kind][, markdown header]); kind 'code' cells are monospace, 'num' right-aligned."""
    cols = [
        {"key": c[0], "label": c[1], "kind": c[2] if len(c) > 2 else "", "md": c[3] if len(c) > 3 else c[1]}
        for c in columns
    ]
    return {"kind": "table", "columns": cols, "rows": rows, "note": note}


def build_context(
    out: Path, inputs: Mapping[str, StageInput], config: Mapping[str, Any], drawn: list[rp.Figure]
) -> dict[str, Any]:
    """Everything the templates show (plots are drawn on the way), as plain data."""
    run, data = config.get("run", {}), config.get("data", {})
    sp = _space(config)
    stages = [
        {"name": name, "seconds": _fmt(rec.get("seconds"), 1), "resumed": str(rec.get("resumed", False)), "dir": d.name}
        for name, (d, rec) in inputs.items()
    ]
    return {
        "title": f"nasgcn run report: {run.get('name', 'run')}",
        "space": sp.name,
        "space_line": _space_line(sp),
        "dataset": data.get("dataset", "?"),
        "seed": run.get("seed", "?"),
        "stages": stages,
        "sections": [
            _predictor_section(inputs, out, drawn),
            _pareto_section(inputs, config, sp, out, drawn),
            _shift_section(inputs, config, out, drawn),
            _retrain_section(inputs, config, sp, out, drawn),
        ],
    }


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("supernet", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["inline_html"] = _inline_html
    env.filters["md_cell"] = _md_cell
    return env


def _inline_html(text: str) -> Any:
    """Escape, then render `code` spans as <code> (the only markup paragraphs carry)."""
    from markupsafe import Markup, escape

    parts = re.split(r"`([^`]*)`", str(text))
    return Markup("".join(str(escape(p)) if i % 2 == 0 else f"<code>{escape(p)}</code>" for i, p in enumerate(parts)))


def _md_cell(value: Any, code: bool = False) -> str:
    """A value inside a Markdown table cell: pipes escaped, newlines flattened."""
    s = str(value).replace("\n", " ").replace("|", "\\|")
    return f"`{s}`" if code else s


def render(context: Mapping[str, Any], fmt: str) -> str:
    """The report as ``"html"`` or ``"md"`` text from its template."""
    return _environment().get_template(f"report.{fmt}.j2").render(**context)


def write_report(
    out_dir: str | os.PathLike,
    inputs: Mapping[str, StageInput],
    config: Mapping[str, Any] | None = None,
    html: bool = False,
) -> dict[str, Any]:
    """Write ``report.md`` (+ ``report.html``) and PNGs into ``out_dir``.

    ``inputs`` maps stage names (label, fit, table, query, shift, retrain) to their
    directory and ``done.json`` record; missing stages are skipped. The result names the
    files written and, under ``figures``, each plot's axes as drawn (:class:`report_plots.Figure`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    drawn: list[rp.Figure] = []
    context = build_context(out, inputs, dict(config or {}), drawn)
    files = [f.file for f in drawn]
    write_text_atomic(out / "report.md", render(context, "md"))
    files.append("report.md")
    paths: dict[str, Any] = {"markdown": "report.md", "files": files, "figures": {f.file: f for f in drawn}}
    if html:
        write_text_atomic(out / "report.html", render(context, "html"))
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
    """Exact cost columns of ``archs`` for the macro network of ``[table]`` (as the lookup table has them).

    An architecture the space cannot parse gets NaN (a report never fails on a cost column).
    """
    macro = {k: v for k, v in table_cfg.items() if k in sp.macro_defaults()}
    ok, rows = [], []
    for i, a in enumerate(archs):
        try:
            rows.append(sp.encode([a])[0])
            ok.append(i)
        except Exception:  # noqa: BLE001 - any parse error: this row has no costs
            continue
    if not ok:
        return {}
    try:
        c = sp.costs(np.stack(rows), macro)
    except Exception:  # noqa: BLE001 - a report never fails on a cost column
        return {}
    out = {}
    for k in ("params_m", "flops_m"):
        if k in c:
            col = np.full(len(archs), np.nan)
            col[ok] = np.asarray(c[k], dtype=np.float64)
            out[k] = col
    return out

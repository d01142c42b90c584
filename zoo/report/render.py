"""The report of finished runs: per table the paper's value beside the zoo's mean ± std over
seeds and their ratio, each row's trivial baseline and whether it trained, each claim's verdict
(`zoo.report.verdicts`: t intervals, shares on their own denominators, the "did it train?" gate),
figures (bars with error bars, training curves, the task's own analysis plots) and everything as
JSON, with each run's resolved recipe, metrics and curves in runs/<run>.json beside the report.
"""
from __future__ import annotations

import math
import shutil
import textwrap
from pathlib import Path

from zoo.report.spec import Table
from zoo.report.stats import mean_std
from zoo.report.verdicts import (MIN_SEEDS, STRICT, check_counts, is_percent, row_gate,  # noqa: F401
                                 summary, verdict)


def _fmt(value, percent: bool) -> str:
    if value is None:
        return "–"
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if percent:
        return f"{100 * value:.2f}%"
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"


def _cell(values: list[float], percent: bool) -> str:
    if not values:
        return "–"
    m, s = mean_std(values)
    if len(values) == 1:
        return _fmt(m, percent)
    if math.isnan(s):
        return _fmt(m, percent)
    return f"{_fmt(m, percent)} ± " + (f"{100 * s:.2f}" if percent else f"{s:.2g}")


def _runs_of(table: Table, planned) -> dict[str, list[dict]]:
    out = {}
    for r in table.rows:
        runs = [p for p in planned if p.table is table and p.row == r.name]
        out[r.name] = ([{"seed": p.seed, "run": str(p.run_dir), "key": p.key, "metrics": p.metrics()}
                        for p in runs if p.finished()], len(runs))
    return out


def table_result(table: Table, planned, scale: str, recorded: dict | None = None) -> dict:
    """Rows (runs' metrics, mean, std, baseline gate) and claims of one table, from the finished
    runs of `planned`, or from `recorded` (row -> (runs as report.json records them, seeds))."""
    runs_of = recorded if recorded is not None else _runs_of(table, planned)
    rows = {}
    for r in table.rows:
        done, n = runs_of.get(r.name, ([], 0))
        values = [d["metrics"][table.metric] for d in done if table.metric in d["metrics"]]
        m, s = mean_std(values) if values else (None, None)
        rows[r.name] = {"recipe": r.recipe_at(scale), "paper": r.paper, "runs": done, "seeds": n,
                        "mean": m, "std": s}
    complete = all(len(v["runs"]) == v["seeds"] and v["seeds"] for v in rows.values())
    if complete:
        check_counts(table, rows)
        for name, row in rows.items():
            row["gate"] = row_gate(table, rows, name)
    claims = [verdict(c, table, rows) for c in table.claims] if complete else []
    return {"title": table.title, "metric": table.metric, "better": table.better, "rows": rows,
            "claims": claims, "complete": complete, "summary": summary(claims)}


def _ratio(zoo, paper) -> str:
    if zoo is None or paper in (None, 0) or (isinstance(zoo, float) and math.isnan(zoo)):
        return "–"
    r = zoo / paper
    return f"{r:.3g}×"


def _gate_cells(table: Table, row: dict) -> list[str]:
    g = row.get("gate")
    if g is None:
        return ["–", "–"]
    if g.get("needs"):
        return ["not reported (see below)", "–"]
    metric = g.get("metric", table.metric)
    # A gate on another metric than the table's (a VAE's bound for KL claims) names it.
    base = _fmt(g["baseline"], is_percent(table, metric)) + (
        f" ({g['what']})" if metric == table.metric else f" {metric} ({g['what']})")
    if g.get("is_baseline"):
        return [base, "is the baseline"]
    if g["trained"] is None:
        return [base, "–"]
    return [base, "yes" if g["trained"] else "no: at the baseline"]


def claim_line(table: Table, claim, c: dict) -> str:
    cp = is_percent(table, claim.left.metric)
    bits = [f"{_fmt(c['left'], cp)} vs {_fmt(c['right'], cp)}"]
    if c.get("interval"):
        lo, hi = c["interval"]
        unit = (lambda x: f"{100 * x:.2f}") if cp else (lambda x: f"{x:.4g}")
        df = f", df {c['df']:.1f}" if c.get("df") else ""
        info = "for information: " if c["verdict"].startswith("not judged") else ""
        bits.append(f"{info}d = {unit(c['difference'])}{' points' if cp else ''}, 95% interval "
                    f"[{unit(lo)}, {unit(hi)}] ({c['method']}{df})")
    if c.get("fisher_p") is not None:
        bits.append("Fisher's exact p " + (f"= {c['fisher_p']:.3g}" if c["fisher_p"] > 1e-300 else "< 1e-300"))
    if c.get("margin") is not None:
        bits.append(f"equivalence margin {_fmt(c['margin'], cp)}")
    source = f" — {c['source']}" if c.get("source") else ""
    return f"- claim `{c['claim']}`: **{c['verdict']}** ({'; '.join(bits)}){source}"


def table_markdown(table: Table, result: dict, scale: str) -> str:
    p = table.percent
    seeds = max((v["seeds"] for v in result["rows"].values()), default=1)
    gated = any(r.baseline for r in table.rows) or table.baseline is not None
    head = ["row", "recipe", f"paper {table.metric}", f"zoo {table.metric}", "zoo / paper",
            *(["trivial baseline", "trained?"] if gated else []), *table.columns, "parameters", "train time"]
    lines = [f"### {table.title}", "",
             f"`{table.id}`, {scale} scale, {seeds} seed{'s' if seeds > 1 else ''} "
             f"({table.better} is better); zoo values are mean ± std over seeds.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in result["rows"].items():
        ms = [r["metrics"] for r in row["runs"]]
        extra = []
        for k, pct in table.columns.values():
            vals = [m[k] for m in ms if k in m]
            ratio = _ratio(sum(vals) / len(vals) if vals else None, row["paper"].get(k))
            extra.append(_cell(vals, pct) + (f" (paper {_fmt(row['paper'][k], pct)}, {ratio})"
                                             if k in row["paper"] else ""))
        paper = row["paper"].get(table.metric)
        minutes = sum(m.get("train_seconds", 0) for m in ms) / max(len(ms), 1) / 60
        cells = [name, f"`{row['recipe']}`", _fmt(paper, p),
                 _cell([m[table.metric] for m in ms if table.metric in m], p)
                 + ("" if len(ms) == row["seeds"] else f" ({len(ms)}/{row['seeds']} seeds)"),
                 _ratio(row["mean"], paper), *(_gate_cells(table, row) if gated else []),
                 *extra, f"{ms[0]['parameters']:,}" if ms and "parameters" in ms[0] else "–",
                 f"{minutes:.1f} min" if ms else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    needs = {(b.what, b.needs) for b in [table.baseline, *(r.baseline for r in table.rows)] if b and b.needs}
    for what, need in sorted(needs):
        lines += ["", f"Trivial baseline ({what}) not reported: needs {need}."]
    if result["claims"]:
        lines.append("")
        for claim, c in zip(table.claims, result["claims"]):
            lines.append(claim_line(table, claim, c))
    elif table.claims:
        lines += ["", "- claims: not judged until every run of the table has finished"]
    return "\n".join(lines)


def bars_figure(table: Table, result: dict, path: Path) -> Path | None:
    from matplotlib.figure import Figure

    from zoo.io import atomic_save_figure

    names = [n for n, r in result["rows"].items() if r["runs"]]
    if not names:
        return None
    scale = 100 if table.percent else 1
    fig = Figure(figsize=(max(4, 0.9 * len(names) + 1.5), 3.2))
    ax = fig.add_subplot(1, 1, 1)
    means = [scale * result["rows"][n]["mean"] for n in names]
    stds = [scale * (result["rows"][n]["std"] or 0) for n in names]
    ax.bar(range(len(names)), means, yerr=stds, capsize=4, color="#4c72b0", label="zoo (mean ± std)")
    papers = [(i, scale * result["rows"][n]["paper"][table.metric]) for i, n in enumerate(names)
              if table.metric in result["rows"][n]["paper"]]
    if papers:
        ax.scatter(*zip(*papers), marker="D", color="#dd8452", zorder=3, label="paper")
    bases = [(i, scale * result["rows"][n]["gate"]["baseline"]) for i, n in enumerate(names)
             if (result["rows"][n].get("gate") or {}).get("baseline") is not None
             and result["rows"][n]["gate"].get("metric", table.metric) == table.metric]
    if bases:
        ax.scatter(*zip(*bases), marker="_", s=400, color="#555555", zorder=3, label="trivial baseline")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel(table.metric + (" (%)" if table.percent else ""))
    ax.set_title(table.title, fontsize=9)
    ax.legend(fontsize=7)
    return atomic_save_figure(fig, path)


def sweep_points(table: Table, result: dict) -> dict[str, dict[str, tuple[list, list, list]]]:
    """{metric: {series: (xs, means, stds)}} of the table's `sweep` over each row's finished seeds
    (percentages scaled to 100; one seed: std 0); a point without a value is left out."""
    import math

    from zoo.report.stats import mean_std

    out = {}
    for metric in table.sweep.metrics:
        scale = 100 if is_percent(table, metric) else 1
        out[metric] = {}
        for label, points in table.sweep.series.items():
            xs, means, stds = [], [], []
            for x, row in points:
                values = [r["metrics"][metric] for r in result["rows"][row]["runs"]
                          if metric in r["metrics"] and not math.isnan(r["metrics"][metric])]
                if values:
                    m, sd = mean_std(values)
                    xs.append(x), means.append(scale * m), stds.append(scale * (sd or 0.0))
            out[metric][label] = (xs, means, stds)
    return out


def sweep_figure(table: Table, result: dict, path: Path) -> Path | None:
    """The table's `sweep` (`sweep_points`): a panel per metric, a line per series over x, mean ±
    std over seeds. None without a sweep or without a value to draw."""
    from matplotlib.figure import Figure

    from zoo.io import atomic_save_figure

    if table.sweep is None:
        return None
    points = sweep_points(table, result)
    if not any(xs for series in points.values() for xs, _, _ in series.values()):
        return None
    fig = Figure(figsize=(4 * len(points), 3.2))
    for i, (metric, series) in enumerate(points.items()):
        ax = fig.add_subplot(1, len(points), i + 1)
        for label, (xs, means, stds) in series.items():
            if xs:
                ax.errorbar(xs, means, yerr=stds, marker="o", ms=4, capsize=3, label=label)
        gates = [g for pts in table.sweep.series.values() for _, r in pts
                 if (g := result["rows"][r].get("gate")) and g.get("baseline") is not None
                 and g.get("metric") == metric]
        if gates:   # where a row that learnt nothing would sit
            scale = 100 if is_percent(table, metric) else 1
            ax.axhline(scale * sum(g["baseline"] for g in gates) / len(gates), color="#555555", ls="--",
                       lw=1, label=f"trivial baseline ({gates[0]['what']})")
        ax.set_xlabel(table.sweep.x)
        ax.set_title(metric + (" (%)" if is_percent(table, metric) else ""), fontsize=10)
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7)
    fig.suptitle(textwrap.fill(table.title, 55 * len(points)), fontsize=9)
    fig.tight_layout()
    return atomic_save_figure(fig, path)


def _scalars(folder: Path, tag: str) -> list[tuple[int, float]]:
    if not folder.is_dir():
        return []
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    acc.Reload()
    if tag not in acc.Tags().get("tensors", []):
        return []
    return [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]


def run_curves(run_dir: Path, metrics: list[str]) -> dict[str, list[list[float]]]:
    """The training curves of one run as data: train/loss and eval/<metric> for `metrics`, as
    [step, value] pairs read from its TensorBoard event files."""
    out = {}
    for sub, tags in (("train", ["loss"]), ("eval", metrics)):
        for tag in tags:
            points = _scalars(Path(run_dir) / "tb" / sub, tag)
            if points:
                out[f"{sub}/{tag}"] = [[int(s), float(f"{v:.7g}")] for s, v in points]
    return out


def curves_figure(table: Table, result: dict, path: Path) -> Path | None:
    """Training loss and the table's metric on the test split over steps, one line per row (its
    seed 0; thin lines for the other seeds)."""
    from matplotlib.figure import Figure

    from zoo.io import atomic_save_figure

    fig = Figure(figsize=(10, 3.4))
    axes = [fig.add_subplot(1, 2, i + 1) for i in range(2)]
    drawn = False
    for i, (name, row) in enumerate(result["rows"].items()):
        colour = f"C{i % 10}"
        for run in row["runs"]:
            width, label = (1.6, name) if run["seed"] == min(r["seed"] for r in row["runs"]) else (0.6, None)
            for ax, sub, tag in ((axes[0], "train", "loss"), (axes[1], "eval", table.metric)):
                points = _scalars(Path(run["run"]) / "tb" / sub, tag)
                if points:
                    ax.plot(*zip(*points), color=colour, lw=width, label=label)
                    drawn = True
    if not drawn:
        return None
    axes[0].set_title("training loss", fontsize=9)
    axes[1].set_title(f"test {table.metric}", fontsize=9)
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend(fontsize=6)
    fig.suptitle(table.title, fontsize=9)
    return atomic_save_figure(fig, path)


def analysis_figures(table: Table, result: dict, out: Path) -> dict[str, list[str]]:
    """The task's own analysis plots (`zoo eval` of each row's first seed), copied into `out`.
    The evaluation is kept in the run's eval/ folder, so a second report does not redo it."""
    from zoo.sources import evaluate_source

    files: dict[str, list[str]] = {}
    if not table.figures:
        return files
    for name, row in result["rows"].items():
        if not row["runs"]:
            continue
        run = Path(row["runs"][0]["run"])
        if not all((run / "eval" / f).is_file() for f in table.figures):
            evaluate_source(run, run / "eval")
        for f in table.figures:
            dest = out / f"{table.family}_{table.key}_{name}_{f}"
            if (run / "eval" / f).is_file():
                shutil.copyfile(run / "eval" / f, dest)
                files.setdefault(name, []).append(dest.name)
    return files

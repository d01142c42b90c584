"""The report of finished runs: per table the paper's value beside the zoo's mean ± std over
seeds, each claim's verdict, figures (bars with error bars, training curves, the task's own
analysis plots) and everything as JSON.

A claim's verdict compares the difference d of the two sides (signed so that d > 0 is the claimed
direction) with its standard error: the standard error of each side's mean is the larger of the
seeds' spread (s / sqrt(n), with two seeds or more) and, for a table that names its test count,
the binomial error of a proportion sqrt(p (1 - p) / (count · n)). A strict claim (< or >) "held"
when d > 2·se, "did not hold" when d < -2·se, and is "within noise" otherwise; a non-strict one
(<= or >=) "held" when d >= 0 (equal rows hold it), "did not hold" when d < -2·se, and is
"within noise" in between. With one seed and no test count there is no noise estimate: the
verdict then states the direction only, and says so.
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path

from zoo.report.spec import Claim, Side, Table

STRICT = {"<": True, ">": True, "<=": False, ">=": False}


def mean_std(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, 0.0
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def _value(side: Side, table: Table, rows: dict) -> tuple[float, float | None]:
    """(mean, variance of the mean or None) of one side of a claim."""
    if side.number is not None:
        return side.number, 0.0
    metric = side.metric or table.metric
    runs = rows[side.row]["runs"]
    values = [r["metrics"][metric] for r in runs if metric in r["metrics"]]
    if not values:
        raise KeyError(f"{table.id}: no run of row {side.row!r} reports {metric!r}")
    m, s = mean_std(values)
    estimates = []
    if len(values) > 1:
        estimates.append(s * s / len(values))
    if table.count and 0.0 <= m <= 1.0 and table.count in runs[0]["metrics"]:
        n = sum(int(r["metrics"][table.count]) for r in runs)
        estimates.append(max(m * (1 - m), 1e-12) / n)
    return m, (max(estimates) if estimates else None)


def verdict(claim: Claim, table: Table, rows: dict) -> dict:
    (a, va), (b, vb) = _value(claim.left, table, rows), _value(claim.right, table, rows)
    d = (b - a) if claim.op in ("<", "<=") else (a - b)
    if va is None or vb is None:
        held = d > 0 if STRICT[claim.op] else d >= 0
        return {"claim": claim.text, "left": a, "right": b, "difference": d, "se": None,
                "verdict": ("held" if held else "did not hold") + " (one seed: no noise estimate)"}
    se = math.sqrt(va + vb)
    if STRICT[claim.op]:
        v = "held" if d > 2 * se else "did not hold" if d < -2 * se else "within noise"
    else:
        v = "held" if d >= 0 else "did not hold" if d < -2 * se else "within noise"
    return {"claim": claim.text, "left": a, "right": b, "difference": d, "se": se, "verdict": v}


def is_percent(table: Table, metric: str | None) -> bool:
    if metric in (None, table.metric):
        return table.percent
    return any(k == metric and pct for k, pct in table.columns.values())


def _fmt(value, percent: bool) -> str:
    if value is None:
        return "–"
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return f"{value:,}"
    if percent:
        return f"{100 * value:.2f}%"
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"


def _cell(values: list[float], percent: bool) -> str:
    if not values:
        return "–"
    m, s = mean_std(values)
    if len(values) == 1:
        return _fmt(m, percent)
    return f"{_fmt(m, percent)} ± " + (f"{100 * s:.2f}" if percent else f"{s:.2g}")


def table_result(table: Table, planned, scale: str) -> dict:
    """Rows (runs' metrics, mean, std) and claims of one table from its finished runs."""
    rows = {}
    for r in table.rows:
        runs = [p for p in planned if p.table is table and p.row == r.name]
        done = [{"seed": p.seed, "run": str(p.run_dir), "key": p.key, "metrics": p.metrics()}
                for p in runs if p.finished()]
        values = [d["metrics"][table.metric] for d in done if table.metric in d["metrics"]]
        m, s = mean_std(values) if values else (None, None)
        rows[r.name] = {"recipe": r.recipe_at(scale), "paper": r.paper,
                        "runs": done, "seeds": len(runs), "mean": m, "std": s}
    complete = all(len(v["runs"]) == v["seeds"] for v in rows.values())
    claims = [verdict(c, table, rows) for c in table.claims] if complete else []
    return {"title": table.title, "metric": table.metric, "better": table.better, "rows": rows,
            "claims": claims, "complete": complete}


def table_markdown(table: Table, result: dict, scale: str) -> str:
    p = table.percent
    seeds = max((v["seeds"] for v in result["rows"].values()), default=1)
    head = ["row", "recipe", f"paper {table.metric}", f"zoo {table.metric}", *table.columns, "parameters",
            "train time"]
    lines = [f"### {table.title}", "",
             f"`{table.id}`, {scale} scale, {seeds} seed{'s' if seeds > 1 else ''} "
             f"({table.better} is better); zoo values are mean ± std over seeds.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in result["rows"].items():
        ms = [r["metrics"] for r in row["runs"]]
        extra = [_cell([m[k] for m in ms if k in m], pct)
                 + (f" (paper {_fmt(row['paper'][k], pct)})" if k in row["paper"] else "")
                 for k, pct in table.columns.values()]
        paper = row["paper"].get(table.metric)
        minutes = sum(m.get("train_seconds", 0) for m in ms) / max(len(ms), 1) / 60
        cells = [name, f"`{row['recipe']}`", _fmt(paper, p),
                 _cell([m[table.metric] for m in ms if table.metric in m], p)
                 + ("" if len(ms) == row["seeds"] else f" ({len(ms)}/{row['seeds']} seeds)"),
                 *extra, f"{ms[0]['parameters']:,}" if ms and "parameters" in ms[0] else "–",
                 f"{minutes:.1f} min" if ms else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    if result["claims"]:
        lines.append("")
        for claim, c in zip(table.claims, result["claims"]):
            cp = is_percent(table, claim.left.metric)
            se = f", 2·se {_fmt(2 * c['se'], cp)}" if c["se"] is not None else ""
            lines.append(f"- claim `{c['claim']}`: **{c['verdict']}** ({_fmt(c['left'], cp)} vs "
                         f"{_fmt(c['right'], cp)}{se})")
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
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel(table.metric + (" (%)" if table.percent else ""))
    ax.set_title(table.title, fontsize=9)
    ax.legend(fontsize=7)
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
    from zoo.eval.loop import evaluate_source

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

"""The recurrent attention model's tables (Semeniuta's dissertation §4.4.1, Tables 4.1 and 4.2),
declared as data and run through the one trainer:

    python -m zoo.models.ram.experiments [--scale cpu|paper] [--rows single,...] [--seeds N]
        [--out runs/ram] [--report reports/ram] [--set KEY=VALUE ...]

Each row is a recipe and the paper's value; Table 4.1 states its claim as a comparison of two
rows. Seed s > 0 of a row sets `data.seed` (the digit split, the images) and `trainer.seed`
(the initialisation) to s. Every (row, seed) is an ordinary run directory under --out
(recipe.yaml, TensorBoard, metrics.json); a rerun reuses a finished one only if its resolved
recipe is the one asked for now, and resumes an interrupted one. The report goes to --report:
per table `table<key>_<scale>.md` and `.json` (e.g. table4.1_cpu.md; a run of some rows rewrites
only their tables) and one glimpse figure per row from its seed-0 run (PNG).

A claim "held" when the difference of the rows' mean errors is more than twice its standard
error (binomial, over all test images of all seeds), "did not hold" when it is that far the
other way, and is "within noise" otherwise.
"""
from __future__ import annotations

import argparse
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from zoo.config import load_recipe


@dataclass(frozen=True)
class Row:
    name: str
    recipe: str            # under recipes/ram/ at the CPU scale; "paper_" + recipe at paper scale
    paper_error: float     # the dissertation's test error, %
    paper_mislocalised: str = ""


TABLES = {
    "4.1": {"title": "Table 4.1: single digit, with and without the context network",
            "rows": (Row("with context", "single", 1.80, "< 1% of errors"),
                     Row("without context", "single_no_context", 3.29, "~10% of errors")),
            "claim": ("with context", "without context")},
    "4.2": {"title": "Table 4.2: digit pair (55 classes) and digit sum (19 classes)",
            "rows": (Row("pair", "pair", 4.3), Row("sum", "sum", 2.55)),
            "claim": None},
}


def _train(recipe: str, run: Path, sets) -> dict:
    from zoo.training.trainer import train_or_reuse

    config = load_recipe(recipe, [*sets, f"runtime.run_dir={run}", "runtime.progress=false", f"name={run.name}"])
    return train_or_reuse(config, log=lambda *a, **k: None)


def _figure(run: Path, out: Path) -> str:
    """The row's glimpse figure through `zoo eval`'s analyses (the run's own task)."""
    from zoo.eval.loop import evaluate_source

    evaluate_source(run, run / "eval")
    dest = out / f"glimpses_{run.name}.png"
    shutil.copyfile(run / "eval" / "glimpses.png", dest)
    return dest.name


def _mean_std(values) -> tuple[float, float]:
    m = sum(values) / len(values)
    return m, (math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0)


def _pct(values, digits=2) -> str:
    m, s = _mean_std(values)
    return f"{100 * m:.{digits}f}%" + (f" ± {100 * s:.{digits}f}" if len(values) > 1 else "")


def verdict(a: dict, b: dict) -> str:
    """"held" / "did not hold" / "within noise" for "a's error < b's error" (module docstring)."""
    se2 = 0.0
    for r in (a, b):
        p, n = r["error"], r["test_images"] * r["seeds"]
        se2 += max(p * (1 - p), 1e-12) / n
    diff, se = b["error"] - a["error"], math.sqrt(se2)
    return "held" if diff > 2 * se else "did not hold" if diff < -2 * se else "within noise"


def run_tables(scale: str, out: Path, report: Path, rows=None, seeds: int = 1, sets=()) -> str:
    from zoo.io import atomic_write, atomic_write_json

    report.mkdir(parents=True, exist_ok=True)
    texts = []
    for key, table in TABLES.items():
        picked = [r for r in table["rows"] if rows is None or r.recipe in rows]
        if not picked:
            continue
        results = {}
        lines = [f"### {table['title']} ({scale} scale, {seeds} seed{'s' if seeds > 1 else ''})", "",
                 "| row | recipe | test error | error after glimpse 1 / 2 / 3 | mislocalised: share of images / of errors "
                 "| parameters | training time | paper error | paper mislocalisation |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for r in picked:
            recipe = f"ram/{'paper_' if scale == 'paper' else ''}{r.recipe}"
            runs = []
            for seed in range(seeds):
                run = out / (f"{scale}_{r.recipe}" + (f"_seed{seed}" if seed else ""))
                seed_sets = [f"data.seed={seed}", f"trainer.seed={seed}"] if seed else []
                runs.append(_train(recipe, run, [*sets, *seed_sets]))
            figure = _figure(out / f"{scale}_{r.recipe}", report)
            col = lambda k: [m[k] for m in runs]   # noqa: E731
            early = " / ".join(_pct(col(f"error_after_{k}"), 1) for k in (1, 2, 3) if f"error_after_{k}" in runs[0])
            mis = (f"{_pct(col('mislocalised'))} / {_pct(col('mislocalised_errors'), 1)}" if "mislocalised" in runs[0]
                   else f"a digit missed: {_pct(col('missed_digit'))}")
            minutes = _mean_std(col("train_seconds"))[0] / 60
            lines.append(f"| {r.name} | `{recipe}` | {_pct(col('error'))} | {early} | {mis} | "
                         f"{runs[0]['parameters']:,} | {minutes:.1f} min | {r.paper_error:.2f}% | "
                         f"{r.paper_mislocalised or '–'} |")
            results[r.name] = {"recipe": recipe, "seeds": seeds, "figure": figure, "runs": runs,
                               "error": _mean_std(col("error"))[0], "test_images": runs[0]["test_images"],
                               **({"mislocalised": _mean_std(col("mislocalised"))[0]} if "mislocalised" in runs[0] else {})}
        if table["claim"] and all(n in results for n in table["claim"]):
            a, b = (results[n] for n in table["claim"])
            held = verdict(a, b)
            results["claim"] = {"statement": f"{table['claim'][0]} error < {table['claim'][1]} error", "verdict": held}
            lines += ["", f"Claim: the model {table['claim'][0]} has the lower test error — **{held}** "
                          f"({100 * a['error']:.2f}% vs {100 * b['error']:.2f}%; the noise band is twice the "
                          f"standard error of the difference); mislocalised {100 * a['mislocalised']:.2f}% vs "
                          f"{100 * b['mislocalised']:.2f}% of test images."]
        text = "\n".join(lines)
        atomic_write(report / f"table{key}_{scale}.md", text + "\n")
        atomic_write_json(report / f"table{key}_{scale}.json", results)
        texts.append(text)
    return "\n\n".join(texts)


def main(argv=None):
    p = argparse.ArgumentParser(description="recurrent attention model tables (dissertation 4.1, 4.2)")
    p.add_argument("--scale", choices=["cpu", "paper"], default="cpu")
    p.add_argument("--rows", help="comma-separated recipes to run (default: all), e.g. single,single_no_context")
    p.add_argument("--seeds", type=int, default=1, help="seeds per row (0, 1, ...)")
    p.add_argument("--out", default="runs/ram")
    p.add_argument("--report", default="reports/ram")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="recipe override for every row (repeatable)")
    a = p.parse_args(argv)
    if a.seeds < 1:
        p.error("--seeds must be at least 1")
    text = run_tables(a.scale, Path(a.out), Path(a.report), a.rows.split(",") if a.rows else None, a.seeds, a.set)
    print(text)
    return text


if __name__ == "__main__":
    main()

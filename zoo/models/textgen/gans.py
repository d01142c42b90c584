"""The GAN comparison of S. Semeniuta, "Recurrent Neural Networks for Discriminative and Generative
Learning" (dissertation, 2019), §5.6.4 (Table 5.4, Figures 5.11 and 5.12), at CPU scale, with the
temperature sweep of the maximum-likelihood LM that Caccia et al. ("Language GANs Falling Short",
2018, §4) showed the comparison needs.

Every row is a recipe of the text-GAN family (recipes/textgan/, trained through the platform's
trainer by name and served through its export's `sample` signature: no family code is imported),
trained once per seed (`trainer.seed` = `data.seed` = the seed) and sampled once. The SeqGAN rows
start from the LM row's finished run of the same seed (`task.pretrained_generator`): the LM is
exactly the pretrained generator, so a SeqGAN row's difference from the LM is what the adversarial
phase did. The LeakGANs pretrain their own generators (an MLP head the LM does not have) for the
same number of steps; the WGANs are not pretrained (as in the dissertation).

Scoring is the metric study's (`Study.score`): BLEU-4 against the held-out sentences, self-BLEU-4
(leave-one-out), unique 4-grams, FD with the two trained encoders, MAUVE, precision/recall, the LM
score and the reverse-LM score. The references are the text-GAN task's held-out sentences (the
LM run's artifacts): the sentences of the length the generators were trained on.

Two rows need no training: `real`, training sentences no longer than the references (the floor of every
distribution metric), and `unigram`, words drawn by their training frequency in sentences of the
training sentences' lengths: the table's trivial baseline. A row that does not close 10% of the
baseline's FD gap to 0 did not train, and no claim is judged on it (`zoo.report`'s gate).

`zoo textgen-study --gans --out DIR` writes textgan_table.{md,json} and textgan_fd.png (Figure 5.11:
FD of each model over its seeds) and textgan_axes.png (Figure 5.12: BLEU vs self-BLEU and LM
score vs reverse LM, with the LM's temperature curve); cells are cached, so a rerun resumes.
No hyperparameter search ran at this scale: the rows use the reference code's settings (§5.6.2's
random search is `zoo tune` with the family's tune space and `task.encoder` set, FD its objective).
"""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from zoo.models.textgen.study import DEFAULT_ASSETS, SPEC_DIR, Study, StudyError

GAN_SPEC = "gans"


def load_gan_spec(name: str = GAN_SPEC):
    import yaml

    from zoo.report.spec import _table

    path = SPEC_DIR / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text())
    table_raw = dict(raw["table"])
    rows = {r: {"recipe": spec["recipe"]} for r, spec in raw["rows"].items()}
    rows.update({r: {"recipe": "(no training)"} for r in ("real", "unigram")})
    rows.update({temperature_row(t): {"recipe": f"{raw['rows']['lm']['recipe']} sampled at T={t}"}
                 for t in raw.get("temperatures", [])})
    table_raw["rows"] = rows
    return raw, _table("textgen", name, table_raw, str(path))


def temperature_row(t: float) -> str:
    return f"lm_t{int(round(float(t) * 100)):03d}"


def train_row(assets: Path, recipe: str, row: str, seed: int, overrides=(), log=print) -> tuple[Path, Path]:
    """(run folder, export) of `recipe` at `seed`, trained and exported once (a rerun resumes)."""
    from zoo.config import load_recipe
    from zoo.export import export_run
    from zoo.training.trainer import Trainer

    run_dir = assets / "gans" / f"{row}-s{seed}"
    export_dir = assets / "gans" / f"{row}-s{seed}-export"
    if not (export_dir / "manifest.json").is_file():
        t = time.time()
        config = load_recipe(recipe, [*overrides, f"trainer.seed={seed}", f"data.seed={seed}",
                                      f"runtime.run_dir={json.dumps(str(run_dir))}", "runtime.progress=false"])
        metrics = Trainer(config, log=lambda *a, **k: None).fit()
        if metrics.get("interrupted"):
            raise StudyError(f"training {recipe} (seed {seed}) was interrupted; rerun to resume")
        export_run(run_dir, export_dir)
        log(f"{row} seed {seed}: trained {recipe} in {time.time() - t:.0f} s "
            f"(test nll {metrics.get('nll', float('nan')):.3f}, bleu4 {metrics.get('bleu4', float('nan')):.3f})")
    return run_dir, export_dir


def sample_gan(export, n: int, seed: int, temperature: float = 1.0) -> list[str]:
    """`n` whole sentences from a text-GAN export's `sample` signature, whitespace normalised."""
    from zoo.export import open_export

    client = open_export(export)
    out = client.call("generator", "sample", {"count": np.int32(n), "temperature": np.float32(temperature),
                                              "top_k": np.int32(0), "top_p": np.float32(1.0),
                                              "seed": np.int64(seed)})
    return [" ".join(t.decode("utf-8", errors="replace").split()) for t in np.asarray(out["texts"]).ravel()]


def held_out(run_dir: Path) -> list[str]:
    """The held-out sentences of a text-GAN run (those within its length cut)."""
    data = json.loads((run_dir / "artifacts" / "textgan_data.json").read_text(encoding="utf-8"))
    return list(data["test_texts"])


def unigram_samples(train: list[str], n: int, seed: int) -> list[str]:
    """The trivial baseline: words drawn by their training frequency, in sentences whose lengths
    are drawn from the training sentences' lengths."""
    rng = np.random.default_rng([seed, 17])
    counts = Counter(w for t in train for w in t.split())
    words = sorted(counts)
    p = np.array([counts[w] for w in words], np.float64)
    p /= p.sum()
    lengths = rng.choice([len(t.split()) for t in train], size=n)
    return [" ".join(words[i] for i in rng.choice(len(words), size=k, p=p)) for k in lengths]


def run_gan_study(out, *, assets=DEFAULT_ASSETS, seeds: int | None = None, only=None, only_seeds=None,
                  trained_only: bool = False, log=print) -> dict:
    """Train, sample and score every row for every seed (cached), then write the table and figures
    into `out`; with `only_seeds`, just those seeds' cells (no table: parallel processes per seed);
    with `trained_only`, the table of the rows already trained (the others are reported as not run)."""
    from zoo.io import atomic_write, atomic_write_json
    from zoo.report.render import table_markdown, table_result

    raw, table = load_gan_spec()
    seeds = int(seeds or raw.get("seeds", 3))
    sizes = raw.get("sizes", {})
    n = int(sizes.get("samples", 1000))
    assets, out = Path(assets), Path(out)
    start = time.time()
    cells: dict[str, list[dict]] = {}
    study = None
    row_specs = raw["rows"]
    for seed in (only_seeds or range(seeds)):
        lm_run, lm_export = train_row(assets, row_specs["lm"]["recipe"], "lm", seed,
                                      list(row_specs["lm"].get("set") or []), log=log)
        if study is None:
            reference = held_out(lm_run)
            study = Study(assets, samples=n, reference_texts=reference,
                          work=assets / ("work" if not only_seeds else f"work-seeds-{'-'.join(map(str, only_seeds))}"),
                          mauve_seeds=tuple(range(int(sizes.get("mauve_seeds", 3)))), log=log)
            # The `real` row's sentences: training sentences no longer (in words) than the references.
            longest = max(len(t.split()) for t in reference)
            train = [s.text for s in study.train if len(s.text.split()) <= longest]

        def add(row, samples, meta):
            c = study.score(samples, None, {"row": row, "seed": seed, **meta})
            cells.setdefault(row, []).append(c)
            log(f"[{time.time() - start:6.0f} s] {row} seed {seed}: "
                + ", ".join(f"{k}={v:.4g}" for k, v in c["metrics"].items()
                            if k in ("bleu4", "self_bleu4", "fd", "lm_score", "reverse_lm")))

        rng = np.random.default_rng([seed, 5])
        add("real", [train[i] for i in rng.choice(len(train), size=min(n, len(train)), replace=False)], {})
        add("unigram", unigram_samples(train, n, seed), {})
        add("lm", sample_gan(lm_export, n, seed), {"export": str(lm_export)})
        for t in raw.get("temperatures", []):
            add(temperature_row(t), sample_gan(lm_export, n, seed, float(t)), {"temperature": float(t)})
        for row, spec in row_specs.items():
            if row == "lm" or (only and row not in only):
                continue
            overrides = list(spec.get("set") or [])
            if spec.get("from_lm"):
                overrides += [f"task.pretrained_generator={json.dumps(str(lm_run))}", "task.pretrain_steps=0"]
            if trained_only and not (assets / "gans" / f"{row}-s{seed}-export" / "manifest.json").is_file():
                continue
            _, export = train_row(assets, spec["recipe"], row, seed, overrides, log=log)
            add(row, sample_gan(export, n, seed), {"export": str(export)})
    if only_seeds:
        return {"summary": {}, "cells": cells}
    # A row trained for fewer seeds than declared is reported with the seeds it has.
    recorded = {name: ([{"seed": c["seed"], "run": c.get("export", "(no training)"), "key": name,
                         "metrics": c["metrics"]} for c in cs], seeds) for name, cs in cells.items()}
    not_run = [r.name for r in table.rows if r.name not in cells]
    if trained_only and not_run:
        # zoo.report judges no claim while a row is missing: the table of the rows that ran, and
        # the claims that need a missing row listed as not run.
        import dataclasses

        skipped = [c for c in table.claims if {c.left.row, c.right.row} & set(not_run)]
        table = dataclasses.replace(table, rows=tuple(r for r in table.rows if r.name in cells),
                                    claims=tuple(c for c in table.claims if c not in skipped))
    else:
        skipped = []
    for r in table.rows:
        recorded.setdefault(r.name, ([], seeds))
    result = table_result(table, None, "cpu", recorded=recorded)
    figures = [plot_fd(cells, raw, out / "textgan_fd.png"), plot_axes(cells, raw, out / "textgan_axes.png")]
    dominance = temperature_dominance(cells, raw)
    md = ["# Text GANs against the LM (Semeniuta 2019, §5.6.4, Table 5.4) at CPU scale", "",
          f"Generated by `zoo textgen-study --gans --out {out}` on {time.strftime('%Y-%m-%d')}; declared in "
          f"zoo/models/textgen/{GAN_SPEC}.yaml. {raw.get('note', '')}", "", table_markdown(table, result, "cpu"), "",
          *([f"Not run in this table: {', '.join(not_run)}; claims not judged for want of them: "
             + "; ".join(f"`{c.text}`" for c in skipped), ""] if skipped else []),
          "## The temperature-swept LM against every GAN (Caccia et al. 2018)", "",
          "A GAN is dominated when some temperature of the LM is at least as good on both axes of a plane "
          "(means over the seeds; quality = LM score, diversity = reverse LM; and BLEU-4 against self-BLEU-4).", "",
          "| model | LM score / reverse LM: dominated by | BLEU-4 / self-BLEU-4: dominated by |", "|---|---|---|",
          *[f"| {k} | {', '.join(v['lm']) or 'none'} | {', '.join(v['bleu']) or 'none'} |" for k, v in dominance.items()],
          "", *[f"![{Path(f).stem}]({Path(f).name})" for f in figures]]
    atomic_write(out / "textgan_table.md", "\n".join(md) + "\n")
    record = {"spec": f"zoo/models/textgen/{GAN_SPEC}.yaml", "seeds": seeds, "note": raw.get("note"),
              "claims": result["claims"], "summary": result["summary"], "dominance": dominance,
              "not_run": not_run, "claims_not_judged": [c.text for c in skipped],
              "rows": {k: _mean_std(v) for k, v in cells.items()}, "cells": cells,
              "figures": [Path(f).name for f in figures], "seconds": round(time.time() - start, 1)}
    atomic_write_json(out / "textgan_table.json", record)
    return record


def _mean_std(cs: list[dict]) -> dict:
    keys = cs[0]["metrics"]
    return {"mean": {m: float(np.mean([c["metrics"][m] for c in cs])) for m in keys},
            "std": {m: float(np.std([c["metrics"][m] for c in cs], ddof=1)) if len(cs) > 1 else 0.0 for m in keys}}


def gan_rows(raw: dict) -> list[str]:
    """The declared GAN rows, in the declaration's order (every trained row but the LM)."""
    return [r for r in raw["rows"] if r != "lm"]


def temperature_dominance(cells: dict, raw: dict) -> dict:
    """For each GAN row: the LM rows (temperatures) at least as good on both axes of each plane."""
    lm_rows = ["lm"] + [temperature_row(t) for t in raw.get("temperatures", [])]
    mean = {k: _mean_std(v)["mean"] for k, v in cells.items()}
    out = {}
    for g in gan_rows(raw):
        if g not in mean:
            continue
        out[g] = {"lm": [r for r in lm_rows if r in mean and mean[r]["lm_score"] <= mean[g]["lm_score"]
                         and mean[r]["reverse_lm"] <= mean[g]["reverse_lm"]],
                  "bleu": [r for r in lm_rows if r in mean and mean[r]["bleu4"] >= mean[g]["bleu4"]
                           and mean[r]["self_bleu4"] <= mean[g]["self_bleu4"]]}
    return out


def plot_fd(cells: dict, raw: dict, path: Path):
    """Figure 5.11 at this scale: every model's FD over its seeds (one point per seed)."""
    from matplotlib.figure import Figure

    from zoo.io import atomic_save_figure

    rows = [r for r in ("real", "lm", *gan_rows(raw), "unigram") if r in cells]
    fig = Figure(figsize=(9, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    for i, r in enumerate(rows):
        v = [c["metrics"]["fd"] for c in cells[r]]
        ax.scatter([i] * len(v), v, s=18)
        ax.plot([i - 0.25, i + 0.25], [np.mean(v)] * 2, color="k", lw=1)
    ax.set_xticks(range(len(rows)), rows, rotation=30, fontsize=7, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("FD (lower is better)")
    ax.set_title("§5.6.4 / Figure 5.11 at CPU scale: FD of each model, one point per seed", fontsize=9)
    fig.tight_layout()
    return atomic_save_figure(fig, path)


def plot_axes(cells: dict, raw: dict, path: Path):
    """Figure 5.12 at this scale: BLEU-4 vs self-BLEU-4 and LM score vs reverse LM, mean ± std per
    model, and the LM's temperature curve."""
    from matplotlib.figure import Figure

    from zoo.io import atomic_save_figure

    temps = [t for t in raw.get("temperatures", []) if temperature_row(t) in cells]
    curve = sorted([(1.0, "lm")] + [(float(t), temperature_row(t)) for t in temps])
    fig = Figure(figsize=(10, 4.2))
    for k, (x, y, xl, yl, logs) in enumerate((("self_bleu4", "bleu4", "self-BLEU-4 (lower: more diverse)",
                                               "BLEU-4 (higher: closer to the references)", False),
                                              ("reverse_lm", "lm_score", "reverse LM (ppl/word, lower: better cover)",
                                               "LM score (ppl/word, lower: more fluent)", True))):
        ax = fig.add_subplot(1, 2, k + 1)
        for r in ("real", *gan_rows(raw)):
            if r in cells:
                ms = _mean_std(cells[r])
                ax.errorbar(ms["mean"][x], ms["mean"][y], xerr=ms["std"][x], yerr=ms["std"][y], marker="o",
                            capsize=2, label=r, ls="none")
        pts = [_mean_std(cells[r])["mean"] for _, r in curve]
        ax.plot([p[x] for p in pts], [p[y] for p in pts], "k-o", ms=3, label="LM, T " + "/".join(f"{t:g}" for t, _ in curve))
        if logs:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel(xl, fontsize=8)
        ax.set_ylabel(yl, fontsize=8)
        ax.tick_params(labelsize=7)
        if k == 0:
            ax.legend(fontsize=6)
    fig.suptitle("§5.6.4 / Figure 5.12 at CPU scale: the models on two complementary planes, mean ± std over seeds",
                 fontsize=9)
    fig.tight_layout()
    return atomic_save_figure(fig, path)


def cmd_gan_study(args) -> int:
    """`zoo textgen-study --gans` (the parser is the metric study's: zoo/models/textgen/cli.py)."""
    record = run_gan_study(args.out, assets=args.assets, seeds=args.seeds, only_seeds=args.seed,
                           trained_only=args.trained_only, log=lambda *a: print(*a, flush=True))
    print("claims: " + ", ".join(f"{v} {k}" for k, v in record["summary"].items()))
    return 0

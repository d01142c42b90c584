"""The metric study of S. Semeniuta, "Recurrent Neural Networks for Discriminative and Generative
Learning" (dissertation, 2019), §5.6.3 "Metric Evaluation" (Figure 5.9), at CPU scale.

Real sentences with a topic (`topic_sentences`: the Wikipedia extract of gensim's wheel, one topic
per article): samples are drawn from the training split and deteriorated in a controlled way; the
reference is a fixed set of held-out sentences holding every topic. Every metric of
`scores.evaluate_samples` is computed for each deterioration and strength, five times with
different seeds (mean ± std):

* mode collapse (`topics`, strength k): samples drawn only from k topics chosen at random
  (§5.6.3: "we sample sentences from the train set using a fixed set of allowed topics"), the
  references from all;
* word dropout (`dropout`, strength p): every word removed with probability p;
* word swapping (`swap`, strength p): every word chosen with probability p, and the chosen words
  put in a random order among their own places (§5.6.3: "we take a fraction of words present in a
  sentence and randomly swap their places"); the sentence's multiset of words is kept.

Words are whitespace-separated tokens. Strength 0 (k = every topic, p = 0) is the "clean" row;
every cell also reports each metric's relative change from the clean cell of the same seed, signed
so that positive means "worse" (`<metric>_worse`), which is how the claims compare metrics of
different scales ("BLEU barely reacts while FD rises").

The scorers are trained once through the platform and cached in `--assets` (default runs/textgen_study): the fixed LM-score
recipe on the training sentences, two sentence encoders (recipes/textgen/study_infersent.yaml,
study_unisent.yaml) for FD / MAUVE / precision-recall, and one reverse LM per sample set
(recipes/textgen/reverse_lm.yaml). The table and its claims are declared in
zoo/models/textgen/study.yaml in the schema of a `zoo report` table and judged by `zoo.report`'s own
verdicts (Welch / paired t intervals over the seeds); see `run_study`.

The fourth experiment of §5.6.3 (LSTM LMs of three sizes and several checkpoints, sampled) is not
part of this module's grid (see the README for its status).
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np

from zoo.errors import ZooError

PERTURBATIONS = ("topics", "dropout", "swap")
# Metrics the study reports, and whether higher is better (for the "_worse" changes and plots).
HIGHER_BETTER = {"bleu4": True, "self_bleu4": False, "self_bleu4_independent": False, "distinct_4": True,
                 "unique_4grams": True, "fd": False, "fd_unisent": False, "mauve": True, "mauve_unisent": True,
                 "precision": True, "recall": True, "precision_unisent": True, "recall_unisent": True,
                 "lm_score": False, "reverse_lm": False}
# The declarations (grid, sizes, table and claims) live beside this module, not under recipes/:
# they are not recipes (every recipes/**/*.yaml is one).
SPEC_DIR = Path(__file__).resolve().parent
STUDY_SPEC = "study"
ENCODER_RECIPES = {"": "textgen/study_infersent", "_unisent": "textgen/study_unisent"}


class StudyError(ZooError, ValueError):
    """A study setting that cannot run (one line)."""


# -- perturbations ---------------------------------------------------------------------------

def word_dropout(text: str, p: float, rng: np.random.Generator) -> str:
    """`text` with every whitespace-separated word removed with probability p."""
    words = text.split()
    keep = rng.random(len(words)) >= p
    return " ".join(w for w, k in zip(words, keep) if k)


def word_swap(text: str, p: float, rng: np.random.Generator) -> str:
    """`text` with every word chosen with probability p and the chosen words shuffled among their
    own positions (the other words stay where they are; the multiset of words is kept)."""
    words = text.split()
    chosen = np.flatnonzero(rng.random(len(words)) < p)
    if len(chosen) > 1:
        order = rng.permutation(chosen)
        moved = [words[i] for i in order]
        for i, w in zip(chosen, moved):
            words[i] = w
    return " ".join(words)


def collapse(sentences, k: int, n: int, rng: np.random.Generator, draw_rng: np.random.Generator | None = None) -> list:
    """`n` distinct sentences drawn from `k` topics chosen uniformly at random among the topics of
    `sentences` (items with `.topic`) that hold at least ceil(n / k) sentences, so the draw never
    repeats a sentence (§5.6.3 samples MultiNLI's large genres; a repeated sentence would be caught
    by any n-gram overlap and is not the mode collapse the study emulates). `rng` picks the
    topics, `draw_rng` (default: `rng`) the sentences: a second, independent sample set of the
    same collapsed "model" shares the topics and redraws the sentences."""
    draw_rng = rng if draw_rng is None else draw_rng
    sizes = Counter(s.topic for s in sentences)
    need = -(-n // k) if k >= 1 else n
    eligible = sorted(t for t, c in sizes.items() if c >= need)
    if not 1 <= k <= len(eligible):
        raise StudyError(f"mode collapse to {k} topics of {n} samples needs {k} topics with at least {need} "
                         f"sentences each; the sentences have {len(eligible)} such topics")
    allowed = set(rng.choice(eligible, size=k, replace=False).tolist())
    pool = [s for s in sentences if s.topic in allowed]
    return [pool[i] for i in draw_rng.choice(len(pool), size=n, replace=False)]


def perturbed_samples(sentences, perturbation: str, strength, n: int, seed: int, draw: int = 0) -> list[str]:
    """The sample texts of one cell: `n` training sentences (all topics unless `topics`), then the
    perturbation at its strength; deterministic per (seed, draw). `draw` 1 is the second,
    independent sample set of the same seed (same topics, other sentences, other perturbation)."""
    if perturbation not in PERTURBATIONS:
        raise StudyError(f"unknown perturbation {perturbation!r}; one of {', '.join(PERTURBATIONS)}")
    all_topics = len({s.topic for s in sentences})
    k = int(strength) if perturbation == "topics" and strength != "all" else all_topics
    if k == all_topics:   # every topic: a plain random draw of the training sentences
        rng = np.random.default_rng([seed, 5603, draw])
        drawn = [sentences[i] for i in rng.choice(len(sentences), size=n, replace=False)]
    else:
        drawn = collapse(sentences, k, n, np.random.default_rng([seed, 5603]),
                         np.random.default_rng([seed, 5603, draw]))
    texts = [s.text for s in drawn]
    if perturbation == "topics" or float(strength) == 0.0:  # (strength "all": every topic)
        return texts
    prng = np.random.default_rng([seed, 5603, draw, 1])
    fn = word_dropout if perturbation == "dropout" else word_swap
    return [fn(t, float(strength), prng) for t in texts]


# -- the study's data and scorers -------------------------------------------------------------

def reference_set(held_out, size: int) -> list:
    """A fixed reference set of `size` held-out sentences holding every topic: one sentence per
    topic first, then the rest in an order fixed by a hash of the text."""
    def h(s):
        return hashlib.sha256(s.text.encode("utf-8")).hexdigest()

    ordered = sorted(held_out, key=h)
    first, seen = [], set()
    for s in ordered:
        if s.topic not in seen:
            seen.add(s.topic)
            first.append(s)
    if size < len(first):
        raise StudyError(f"a reference set of {size} sentences cannot hold all {len(first)} topics")
    chosen = {id(s) for s in first}
    rest = [s for s in ordered if id(s) not in chosen]
    return first + rest[: size - len(first)]


class Study:
    """The study's data, its scorers (trained on first use, cached in `assets`) and its cells."""

    def __init__(self, assets, *, corpus: str = "wiki", samples: int = 400, references: int = 600,
                 encoders: dict[str, str] | None = None, encoder_overrides=(), mauve_seeds=(0, 1, 2),
                 reference_texts: list[str] | None = None, work: str | Path | None = None, log=print):
        from zoo.models.textgen.data import topic_sentences

        self.assets = Path(assets)
        self.corpus, self.n, self.mauve_seeds, self.log = corpus, int(samples), tuple(mauve_seeds), log
        self.train = topic_sentences(corpus, "train")
        self.reference = ([s.text for s in reference_set(topic_sentences(corpus, "test"), references)]
                          if reference_texts is None else list(reference_texts))
        # Where the reverse LMs are trained (one per sample set, deleted once scored): a process of
        # its own per folder, as the cells of several processes share `assets`.
        self.work = Path(work) if work is not None else self.assets / "work"
        self.encoder_recipes = dict(ENCODER_RECIPES if encoders is None else encoders)
        self.encoder_overrides = tuple(encoder_overrides)
        self._encoders = None
        self._lm = None
        self._ref_cache: dict = {}

    # scorers
    def lm(self) -> Path:
        if self._lm is None:
            from zoo.models.textgen.scores import LM_SCORE_RECIPE, train_lm

            t = time.time()
            self._lm = train_lm([s.text for s in self.train], self.assets / "lm_score", recipe=LM_SCORE_RECIPE)[0]
            self.log(f"LM-score model {LM_SCORE_RECIPE}: {self._lm} ({time.time() - t:.0f} s)")
        return self._lm

    def encoders(self) -> dict[str, Path]:
        """suffix -> encoder export, each trained once from its recipe."""
        if self._encoders is None:
            self._encoders = {suffix: self._train_encoder(recipe) for suffix, recipe in self.encoder_recipes.items()}
        return self._encoders

    def _train_encoder(self, recipe: str) -> Path:
        from zoo.config import load_recipe
        from zoo.export import export_run
        from zoo.report.runner import run_key
        from zoo.training.trainer import Trainer

        config = load_recipe(recipe, [*self.encoder_overrides, "runtime.progress=false"])
        key = run_key(config)
        run_dir = self.assets / f"encoder-{config.model.name}-{key}"
        export_dir = self.assets / f"encoder-{config.model.name}-{key}-export"
        if not (export_dir / "manifest.json").is_file():
            t = time.time()
            config = config.with_overrides([f"runtime.run_dir={json.dumps(str(run_dir))}"])
            metrics = Trainer(config, log=lambda *a, **k: None).fit()
            if metrics.get("interrupted"):
                raise StudyError(f"training {recipe} was interrupted; rerun to resume")
            export_run(run_dir, export_dir)
            self.log(f"encoder {recipe}: topic accuracy {metrics.get('topic_accuracy', float('nan')):.3f}, "
                     f"adjacency accuracy {metrics.get('adjacency_accuracy', float('nan')):.3f} "
                     f"({time.time() - t:.0f} s) -> {export_dir}")
        return export_dir

    # cells
    def cell(self, perturbation: str, strength, seed: int) -> dict:
        """Every metric value of one (perturbation, strength, seed), cached by the samples' text."""
        samples = perturbed_samples(self.train, perturbation, strength, self.n, seed)
        second = perturbed_samples(self.train, perturbation, strength, self.n, seed, draw=1)
        return self.score(samples, second, {"perturbation": perturbation, "strength": strength, "seed": seed})

    def cell_path(self, samples: list[str], second: list[str] | None) -> Path:
        """Where the cell of these texts under these scorers is cached."""
        settings = {"samples": samples, "second": second, "reference": self.reference,
                    "encoders": {k: str(v) for k, v in self.encoders().items()}, "mauve_seeds": self.mauve_seeds,
                    "version": 1}
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8")).hexdigest()[:16]
        return self.assets / "cells" / f"{key}.json"

    def score(self, samples: list[str], second: list[str] | None, meta: dict) -> dict:
        """Every metric of one sample set (and its independent second set, if any), cached in
        `assets/cells` by the texts and the scorers."""
        from zoo.io import atomic_write_json
        from zoo.models.textgen.scores import evaluate_samples

        encoders = self.encoders()
        path = self.cell_path(samples, second)
        if path.is_file():
            # The key is the texts and scorers, not who drew them: two seeds whose samples are the
            # same (a generator collapsed to empty sentences) share the numbers, each its own meta.
            return {**json.loads(path.read_text()), **meta}
        t = time.time()
        order = list(encoders)
        res = evaluate_samples(samples, self.reference, samples2=second, encoders=[encoders[s] for s in order],
                               lm=self.lm(), reverse_lm=True, workdir=self.work,
                               mauve_seeds=self.mauve_seeds, reference_embeddings=self._ref_cache,
                               undefined_as_nan=True)
        m = res["metrics"]
        values = {"bleu4": m["bleu4"]["value"], "self_bleu4": m["self_bleu4_leave_one_out"]["value"],
                  "distinct_4": m["distinct_4"]["value"], "unique_4grams": m["unique_4grams"]["value"],
                  "lm_score": m["lm_score"]["value"], "reverse_lm": m["reverse_lm"]["value"]}
        if second is not None:
            values["self_bleu4_independent"] = m["self_bleu4_independent"]["value"]
        for i, suffix in enumerate(order):
            src = "" if i == 0 else f"_{i + 1}"
            for name in ("fd", "mauve", "precision", "recall"):
                values[f"{name}{suffix}"] = m[f"{name}{src}"]["value"]
        cell = {**meta, "metrics": values,
                "samples": len(samples), "references": len(self.reference),
                "topics_total": len({s.topic for s in self.train}),
                "words": sum(len(t.split()) for t in samples), "seconds": round(time.time() - t, 1),
                "details": {k: v.get("on") for k, v in m.items()}, "encoders": res["encoders"],
                "example": samples[:3]}
        atomic_write_json(path, cell)
        # One reverse-LM export per sample set adds up: the cell keeps its numbers, not the model.
        for d in (self.work / "reverse_lm").glob("export-*"):
            shutil.rmtree(d, ignore_errors=True)
        return cell


# -- the grid, the table, the figures ---------------------------------------------------------

def load_spec(name: str = STUDY_SPEC):
    """The study's declaration (zoo/models/textgen/study.yaml): grid, sizes and the table with its
    claims in `zoo report`'s table schema (parsed by `zoo.report.spec`)."""
    import yaml

    from zoo.report.spec import _table

    path = SPEC_DIR / f"{name}.yaml"
    if not path.is_file():
        raise StudyError(f"no study declaration {str(path)!r}")
    raw = yaml.safe_load(path.read_text())
    grid = {p: list(v) for p, v in raw["grid"].items()}
    rows = {}
    for p, strengths in grid.items():
        for s in strengths:
            rows[row_name(p, s)] = {"recipe": f"{name} {p}={s}"}
    table_raw = dict(raw["table"])
    table_raw["rows"] = rows
    table = _table("textgen", "study", table_raw, str(path))
    return raw, grid, table


def row_name(perturbation: str, strength) -> str:
    if perturbation == "topics":
        return f"topics_{strength if strength == 'all' else int(strength)}"
    return f"{perturbation}_{int(round(float(strength) * 100)):02d}"


def _with_changes(cells: list[dict], clean: dict[int, dict]) -> list[dict]:
    """Each cell's metrics plus `<m>_worse`: the relative change from the clean cell of its seed,
    positive when worse."""
    out = []
    for c in cells:
        base = clean[c["seed"]]["metrics"]
        m = dict(c["metrics"])
        for k, v in c["metrics"].items():
            b = base.get(k)
            if b is None or k not in HIGHER_BETTER or b == 0:
                continue
            change = (v - b) / abs(b)
            m[f"{k}_worse"] = -change if HIGHER_BETTER[k] else change
        out.append({**c, "metrics": m})
    return out


DEFAULT_ASSETS = "runs/textgen_study"


def run_study(out, *, assets=DEFAULT_ASSETS, seeds: int | None = None, spec: str = STUDY_SPEC, only=None,
              log=print) -> dict:
    """Run every cell of the declared grid for `seeds` seeds (cached: a rerun reads them), then
    write `textgen_study.json`, `textgen_study.md` (the table and its claims' verdicts, by
    `zoo.report`) and one PNG per perturbation into `out`."""
    from zoo.io import atomic_write, atomic_write_json
    from zoo.report.render import table_markdown, table_result

    raw, grid, table = load_spec(spec)
    sizes = raw.get("sizes", {})
    seeds = int(seeds or raw.get("seeds", 5))
    out = Path(out)
    study = Study(assets, samples=sizes.get("samples", 400), references=sizes.get("references", 600),
                  encoder_overrides=tuple(f"{k}={json.dumps(v)}" for k, v in (raw.get("encoder_set") or {}).items()),
                  mauve_seeds=tuple(range(int(sizes.get("mauve_seeds", 3)))), log=log)
    start = time.time()
    cells: dict[str, list[dict]] = {}
    todo = [(p, s) for p in grid for s in grid[p] if not only or p in only]
    for i, (p, s) in enumerate(todo):
        for seed in range(seeds):
            c = study.cell(p, s, seed)
            cells.setdefault(row_name(p, s), []).append(c)
            log(f"[{time.time() - start:6.0f} s] {row_name(p, s)} seed {seed}: "
                + ", ".join(f"{k}={v:.4g}" for k, v in c["metrics"].items() if k in ("bleu4", "fd", "reverse_lm")))
    clean = {c["seed"]: c for c in cells[row_name("topics", grid["topics"][0])]} if "topics" in grid else {}
    recorded = {}
    for name, cs in cells.items():
        cs = _with_changes(cs, clean) if clean else cs
        cells[name] = cs
        recorded[name] = ([{"seed": c["seed"], "run": f"{assets}/cells ({name} seed {c['seed']})", "key": name,
                            "metrics": c["metrics"]} for c in cs], seeds)
    for r in table.rows:
        recorded.setdefault(r.name, ([], seeds))
    result = table_result(table, None, "cpu", recorded=recorded)
    figures = [plot_perturbation(p, grid[p], cells, out / f"textgen_study_{p}.png") for p in grid
               if all(row_name(p, s) in cells for s in grid[p])]
    md = [f"# Metric study (Semeniuta 2019, §5.6.3) at CPU scale", "",
          f"Generated by `zoo textgen-study --out {out}` on {time.strftime('%Y-%m-%d')}; declared in "
          f"zoo/models/textgen/{spec}.yaml. {raw.get('note', '')}", "", table_markdown(table, result, "cpu"), "",
          *[f"![{Path(f).stem}]({Path(f).name})" for f in figures if f]]
    atomic_write(out / "textgen_study.md", "\n".join(md) + "\n")
    record = {"spec": f"zoo/models/textgen/{spec}.yaml", "grid": grid, "seeds": seeds, "note": raw.get("note"),
              "claims": result["claims"], "summary": result["summary"],
              "rows": {k: {"mean": {m: float(np.mean([c["metrics"][m] for c in v])) for m in v[0]["metrics"]},
                           "std": {m: float(np.std([c["metrics"][m] for c in v], ddof=1)) if len(v) > 1 else 0.0
                                   for m in v[0]["metrics"]}} for k, v in cells.items()},
              "cells": cells, "figures": [Path(f).name for f in figures if f],
              "seconds": round(time.time() - start, 1)}
    atomic_write_json(out / "textgen_study.json", record)
    return record


PLOTTED = (("bleu4", "BLEU-4"), ("self_bleu4", "self-BLEU-4 (leave-one-out)"),
           ("self_bleu4_independent", "self-BLEU-4 (independent)"), ("fd", "FD (InferSent-style)"),
           ("fd_unisent", "FD (UniSent)"), ("mauve", "MAUVE (InferSent-style)"),
           ("precision", "precision (InferSent-style)"), ("recall", "recall (InferSent-style)"),
           ("lm_score", "LM score (ppl/word)"), ("reverse_lm", "reverse LM (ppl/word)"),
           ("distinct_4", "distinct-4"))


def plot_perturbation(perturbation: str, strengths, cells: dict, path: Path):
    """Small multiples: every metric against the perturbation's strength, mean ± std over seeds."""
    from matplotlib.figure import Figure

    from zoo.io import atomic_save_figure

    shown = [(k, label) for k, label in PLOTTED if all(k in c["metrics"] for c in cells[row_name(perturbation, strengths[0])])]
    cols = 4
    rows = math.ceil(len(shown) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.4 * rows))
    xs = [float(cells[row_name(perturbation, s)][0]["topics_total"] if s == "all" else s) for s in strengths]
    for i, (k, label) in enumerate(shown):
        ax = fig.add_subplot(rows, cols, i + 1)
        vals = [[c["metrics"][k] for c in cells[row_name(perturbation, s)]] for s in strengths]
        mean = [float(np.mean(v)) for v in vals]
        std = [float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for v in vals]
        ax.errorbar(xs, mean, yerr=std, marker="o", capsize=3)
        if perturbation == "topics":
            ax.set_xscale("log")
            ax.invert_xaxis()
        ax.set_title(f"{label} ({'higher' if HIGHER_BETTER.get(k) else 'lower'} better)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xlabel({"topics": "topics in the samples", "dropout": "word dropout p",
                       "swap": "word swap p"}[perturbation], fontsize=7)
    n = len(next(iter(cells.values())))
    fig.suptitle(f"§5.6.3 {perturbation}: every metric vs strength, mean ± std over {n} seeds", fontsize=10)
    fig.tight_layout()
    return atomic_save_figure(fig, path)


def cmd_textgen_study(args) -> int:
    if args.models:
        record = run_model_study(args.out, assets=args.assets, seeds=args.seeds,
                                 log=lambda *a: print(*a, flush=True))
        print("claims: " + ", ".join(f"{v} {k}" for k, v in record["summary"].items()))
        return 0
    record = run_study(args.out, assets=args.assets, seeds=args.seeds, only=args.only,
                       log=lambda *a: print(*a, flush=True))
    s = record["summary"]
    print(f"claims: " + ", ".join(f"{v} {k}" for k, v in s.items()))
    print(f"written: {Path(args.out) / 'textgen_study.md'}, textgen_study.json, "
          + ", ".join(record["figures"]))
    return 0


def add_commands(sub) -> None:
    s = sub.add_parser("textgen-study", help="the §5.6.3 metric study (mode collapse, word dropout, word "
                                             "swapping): every metric vs strength, claims judged")
    s.add_argument("--out", required=True, help="folder for the table, JSON, PNGs and the cached scorers")
    s.add_argument("--assets", default=DEFAULT_ASSETS, help="where the trained scorers and the cached cells "
                                                            f"go (default: {DEFAULT_ASSETS})")
    s.add_argument("--seeds", type=int, help="repetitions (default: the declaration's, 5)")
    s.add_argument("--only", action="append", choices=PERTURBATIONS, help="run only these perturbations")
    s.add_argument("--models", action="store_true", help="run the model-size / training-time study instead "
                                                         "(zoo/models/textgen/study_models.yaml; LSTM LMs, sampled)")
    s.add_argument("--gans", action="store_true", help="run the §5.6.4 GAN comparison instead "
                                                       "(zoo/models/textgen/gans.yaml; recipes/textgan/, "
                                                       "trained and sampled)")
    s.add_argument("--seed", type=int, action="append", help="with --gans: train and score only these "
                                                             "seeds (cached; a run without --seed writes the table)")
    s.add_argument("--trained-only", action="store_true", help="with --gans: write the table from the rows "
                                                                "already trained, training nothing")
    s.set_defaults(fn=cmd_textgen_study)
    return s


# -- model size and training time (§5.6.3, Figure 5.10) ---------------------------------------

MODELS_SPEC = "study_models"


def model_row(width: int, steps: int) -> str:
    return f"lstm{width}_s{steps}"


def sample_export(export, n: int, draw: int, max_tokens: int = 60) -> list[str]:
    """`n` sentences sampled (temperature 1, from the beginning of text) from a language-model
    export serving `TextGenerator`; sample i of draw d has seed d * 100003 + i. An empty sample
    (the model ended the text at once) is kept: it is what the model produced."""
    from zoo.export.client import open_export
    from zoo.export.contracts import TextGenerator, require

    client = require(open_export(export), TextGenerator, "the model study")
    return [" ".join(client.generate("", max_tokens, seed=draw * 100003 + i)["text"].split()) for i in range(n)]


def train_checkpoints(study: Study, recipe: str, width: int, steps: list[int], log=print) -> dict[int, Path]:
    """Train `recipe` at `model.units = width` on the study's training sentences (one paragraph
    each) through the platform's trainer, exporting the model after each of `steps` (the run
    resumes from its checkpoint up to the next budget: one training, several checkpoints)."""
    from zoo.config import load_recipe
    from zoo.export import export_run
    from zoo.io import atomic_write

    corpus = study.assets / "lm_train_sentences.txt"
    if not corpus.is_file():
        atomic_write(corpus, "\n\n".join(" ".join(s.text.split()) for s in study.train) + "\n")
    run_dir = study.assets / f"lm-{width}"
    out = {}
    for s in sorted(steps):
        export_dir = study.assets / f"lm-{width}-s{s}-export"
        if not (export_dir / "manifest.json").is_file():
            t = time.time()
            saved = run_dir / "recipe.yaml"
            # A later budget resumes the run: its saved recipe (with the model arguments the first
            # training adopted) and only the step budget changed.
            config = load_recipe(str(saved), [f"trainer.max_steps={s}"]) if saved.is_file() else \
                load_recipe(recipe, [f"model.units={width}", f"trainer.max_steps={s}",
                                     f"data.corpus={json.dumps(str(corpus))}",
                                     f"runtime.run_dir={json.dumps(str(run_dir))}", "runtime.progress=false"])
            from zoo.training.trainer import Trainer

            metrics = Trainer(config, log=lambda *a, **k: None).fit()
            if metrics.get("interrupted"):
                raise StudyError(f"training {recipe} ({width} units) was interrupted; rerun to resume")
            (run_dir / "metrics.json").rename(run_dir / f"metrics-s{s}.json")   # the next budget resumes
            export_run(run_dir, export_dir)
            log(f"{recipe} {width} units, {s} steps: test perplexity {metrics.get('perplexity', float('nan')):.1f} "
                f"({time.time() - t:.0f} s)")
        out[s] = export_dir
    return out


def run_model_study(out, *, assets=DEFAULT_ASSETS, seeds: int | None = None, spec: str = MODELS_SPEC,
                    log=print) -> dict:
    """Figure 5.10 at CPU scale: LSTM LMs of the declared widths, exported at several training
    budgets, sampled `seeds` times (independent draws of the same checkpoint), every metric per
    checkpoint; `textgen_study_models.{md,json,png}` in `out`, claims judged by zoo.report over
    the draws."""
    import yaml

    from zoo.io import atomic_write, atomic_write_json
    from zoo.report.render import table_markdown, table_result
    from zoo.report.spec import _table

    path = SPEC_DIR / f"{spec}.yaml"
    raw = yaml.safe_load(path.read_text())
    widths, steps = [int(w) for w in raw["widths"]], [int(s) for s in raw["steps"]]
    seeds = int(seeds or raw.get("seeds", 3))
    sizes = raw.get("sizes", {})
    table_raw = dict(raw["table"])
    table_raw["rows"] = {model_row(w, s): {"recipe": f"{raw['recipe']} units={w} steps={s}"}
                         for w in widths for s in steps}
    table = _table("textgen", "study_models", table_raw, str(path))
    out = Path(out)
    study = Study(assets, samples=sizes.get("samples", 400), references=sizes.get("references", 600),
                  mauve_seeds=tuple(range(int(sizes.get("mauve_seeds", 3)))), log=log)
    start = time.time()
    cells: dict[str, list[dict]] = {}
    for w in widths:
        exports = train_checkpoints(study, raw["recipe"], w, steps, log=log)
        for s in steps:
            for d in range(seeds):
                samples = sample_export(exports[s], study.n, d)
                c = study.score(samples, None, {"width": w, "steps": s, "seed": d})
                cells.setdefault(model_row(w, s), []).append(c)
                log(f"[{time.time() - start:6.0f} s] {model_row(w, s)} draw {d}: "
                    + ", ".join(f"{k}={v:.4g}" for k, v in c["metrics"].items() if k in ("bleu4", "fd", "lm_score", "reverse_lm")))
    recorded = {name: ([{"seed": c["seed"], "run": f"{assets}/cells ({name} draw {c['seed']})", "key": name,
                         "metrics": c["metrics"]} for c in cs], seeds) for name, cs in cells.items()}
    result = table_result(table, None, "cpu", recorded=recorded)
    fig = plot_models(widths, steps, cells, out / "textgen_study_models.png")
    md = ["# Model size and training time (Semeniuta 2019, §5.6.3, Figure 5.10) at CPU scale", "",
          f"Generated by `zoo textgen-study --models --out {out}` on {time.strftime('%Y-%m-%d')}; declared in "
          f"zoo/models/textgen/{spec}.yaml. {raw.get('note', '')}", "", table_markdown(table, result, "cpu"), "",
          f"![{fig.stem}]({fig.name})"]
    atomic_write(out / "textgen_study_models.md", "\n".join(md) + "\n")
    atomic_write_json(out / "textgen_study_models.json", {
        "spec": f"zoo/models/textgen/{spec}.yaml", "widths": widths, "steps": steps, "draws": seeds, "claims": result["claims"],
        "summary": result["summary"], "cells": cells, "figures": [fig.name], "seconds": round(time.time() - start, 1)})
    return {"summary": result["summary"], "figures": [fig.name]}


def plot_models(widths, steps, cells, path: Path):
    """Small multiples: every metric against training steps, one line per width (mean ± std)."""
    from matplotlib.figure import Figure

    from zoo.io import atomic_save_figure

    first = cells[model_row(widths[0], steps[0])][0]["metrics"]
    shown = [(k, label) for k, label in PLOTTED if k in first]
    cols = 4
    rows = math.ceil(len(shown) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.4 * rows))
    for i, (k, label) in enumerate(shown):
        ax = fig.add_subplot(rows, cols, i + 1)
        for w in widths:
            vals = [[c["metrics"][k] for c in cells[model_row(w, s)]] for s in steps]
            ax.errorbar(steps, [float(np.mean(v)) for v in vals],
                        yerr=[float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for v in vals],
                        marker="o", capsize=3, label=f"{w} units")
        ax.set_title(f"{label} ({'higher' if HIGHER_BETTER.get(k) else 'lower'} better)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("training steps", fontsize=7)
        if i == 0:
            ax.legend(fontsize=6)
    fig.suptitle("§5.6.3 model size and training time: every metric per checkpoint, mean ± std over sample draws",
                 fontsize=10)
    fig.tight_layout()
    return atomic_save_figure(fig, path)

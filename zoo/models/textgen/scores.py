"""The language-model scores of generated text (S. Semeniuta, "Recurrent Neural Networks for
Discriminative and Generative Learning", dissertation, 2019, §5.6.1 "Language Model score" and
"Reverse Language Model score").

* LM score: the perplexity of the samples under a language model trained on the real training
  text (a proxy of precision: it rewards likely sentences and is blind to diversity).
* Reverse-LM score: the perplexity on real held-out text of a language model trained on the
  samples (it punishes both bad and missing sentences).

Both go through an export whose client serves the `TextScorer` contract
(`zoo.export.contracts`), so any language model of any family can be the scorer; no family is
imported. The reverse LM is trained through the platform (`zoo.training.Trainer`) on a fixed,
named recipe (default `textgen/reverse_lm`: an interpolated Kneser-Ney character 5-gram, trained
by counting), with the samples as its `data.corpus` file, then exported and scored like any LM.

Definition used for both (stated in every result): perplexity per word,
    exp(- sum over texts of log p(text and its end) / sum over texts of (words + 1)),
words being the whitespace-separated tokens of each text, "+1" its end. It is computed from the
total log-probability of the same texts, so it compares models with different tokenizers or
vocabularies (a per-token perplexity would not); bits per character are reported beside it.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from zoo.errors import ZooError

DEFINITION = "perplexity per word: exp(-sum log p(text + end) / sum (whitespace words + 1))"
REVERSE_LM_RECIPE = "textgen/reverse_lm"
LM_SCORE_RECIPE = "textgen/lm_score"


class ScoreInputError(ZooError, ValueError):
    """Texts or exports an LM score cannot use (one line, said to the user)."""


@dataclass(frozen=True)
class LMScoreResult:
    perplexity: float        # per word, see DEFINITION
    nll_per_word: float      # nats
    bits_per_char: float     # the text's characters plus one per end
    texts: int
    words: int
    characters: int
    model: str               # what scored: the export's family/model and path
    fingerprint: str         # sha256 of the export's manifest
    definition: str = DEFINITION

    @property
    def value(self) -> float:
        return self.perplexity

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ReverseLMResult:
    perplexity: float        # of the reference under the LM trained on the samples (DEFINITION)
    nll_per_word: float
    bits_per_char: float
    samples: int             # nonempty samples the reverse LM was trained on
    held_out_samples: int    # samples the lm task kept as its own test split (by content hash)
    reference_texts: int
    reference_words: int
    recipe: str              # the fixed recipe, and its resolved settings' key
    run_key: str
    model: str
    definition: str = DEFINITION

    @property
    def value(self) -> float:
        return self.perplexity

    def to_dict(self) -> dict:
        return asdict(self)


def export_fingerprint(export_dir) -> str:
    """sha256 of an export's manifest.json (which names every file's content hash)."""
    from zoo.export.exporter import MANIFEST

    return hashlib.sha256((Path(export_dir) / MANIFEST).read_bytes()).hexdigest()


def check_texts(texts, what: str) -> list[str]:
    """A nonempty list of str without NaN-like holes: one line when not."""
    texts = list(texts)
    if not texts:
        raise ScoreInputError(f"{what}: no text to score")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ScoreInputError(f"{what}: item {i} is {type(t).__name__}, not text")
    return texts


def open_scorer(export):
    """A client serving `TextScorer` from an export path (or a client, returned as is)."""
    from zoo.export.client import ExportClient, open_export
    from zoo.export.contracts import TextScorer, require

    client = export if isinstance(export, ExportClient) else open_export(export)
    return require(client, TextScorer, "the LM score")


def _context_limit(client) -> int | None:
    """The longest text, in characters, an export declares it reads (None: unbounded)."""
    limits = [int(e[k]) for e in client.entries.values() for k in ("max_length", "max_text_tokens")
              if isinstance(e.get(k), int)]
    return min(limits) if limits else None


def lm_score(export, texts, *, what: str = "samples") -> LMScoreResult:
    """Perplexity per word of `texts` under the language model of `export` (see DEFINITION)."""
    texts = check_texts(texts, what)
    client = open_scorer(export)
    limit = _context_limit(client)
    if limit is not None:
        longest = max(range(len(texts)), key=lambda i: len(texts[i]))
        if len(texts[longest]) > limit:
            raise ScoreInputError(f"{what}: line {longest + 1} has {len(texts[longest])} characters; the "
                                  f"LM export {client.export_dir} reads at most {limit}")
    out = client.score(texts)
    log_prob = np.asarray(out["log_prob"], np.float64).reshape(-1)
    chars = np.asarray(out["characters"], np.float64).reshape(-1)
    if not np.all(np.isfinite(log_prob)):
        raise ScoreInputError(f"{what}: the LM export {client.export_dir} gave a non-finite log-probability")
    words = sum(len(t.split()) + 1 for t in texts)
    nll = -float(log_prob.sum())
    m = client.manifest
    return LMScoreResult(perplexity=math.exp(nll / words), nll_per_word=nll / words,
                         bits_per_char=nll / math.log(2.0) / float(chars.sum()), texts=len(texts),
                         words=words, characters=int(chars.sum()),
                         model=f"{m['family']}/{m.get('model')} at {client.export_dir}",
                         fingerprint=export_fingerprint(client.export_dir))


# -- reverse LM ------------------------------------------------------------------------------

def _paragraphs(texts) -> str:
    """One paragraph per sample (the lm task reads blank-line separated paragraphs)."""
    return "\n\n".join(" ".join(t.split()) for t in texts) + "\n"


def _test_fraction(texts, base: float) -> float:
    """The recipe's test fraction, raised just enough that the lm task's hash split keeps one
    sample as its (required) test split when the recipe's leaves none (small sample sets)."""
    from zoo.data.splits import content_hash

    hashes = sorted(content_hash(" ".join(t.split()).encode("utf-8")) for t in texts if t.split())
    if not hashes:
        raise ScoreInputError("reverse LM: every sample is empty; there is nothing to train on")
    if len(set(" ".join(t.split()) for t in texts if t.split())) < 2:
        raise ScoreInputError("reverse LM: the samples hold fewer than 2 distinct nonempty lines; "
                              "the LM needs some to train on and one to test on")
    if hashes[0] < base:
        return base
    return min(0.5, float(np.nextafter(hashes[0], 1.0)))


def train_lm(texts, workdir, *, recipe: str, seed: int = 0, overrides=(), keep: bool = False):
    """Train `recipe` on `texts` (one paragraph each) through the platform's trainer and export
    it: (export dir, resolved config, test fraction used). A workdir already holding the export of
    these texts and settings is reused (the study scores one sample set once)."""
    from zoo.config import RecipeError, load_recipe
    from zoo.data.errors import ZooDataError
    from zoo.export import export_run
    from zoo.io import atomic_write
    from zoo.report.runner import run_key
    from zoo.training.trainer import Trainer

    workdir = Path(workdir)
    text = _paragraphs(texts)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    corpus = workdir / f"texts-{digest}.txt"
    base = load_recipe(recipe, [f"trainer.seed={seed}", *overrides])
    fraction = _test_fraction(texts, base.data.test_fraction)
    config = base.with_overrides([f"data.corpus={json.dumps(str(corpus))}", f"data.test_fraction={fraction!r}",
                                  "runtime.progress=false"])
    key = hashlib.sha256((run_key(config) + digest).encode("utf-8")).hexdigest()[:16]
    run_dir, export_dir = workdir / f"run-{key}", workdir / f"export-{key}"
    config = config.with_overrides([f"runtime.run_dir={json.dumps(str(run_dir))}"])
    if not (export_dir / "manifest.json").is_file():
        # A run folder without its export is an interrupted training of these same texts: the
        # model is counted again in seconds, from a clean folder (its recorded model arguments,
        # adopted from the data, would not match a fresh config).
        shutil.rmtree(run_dir, ignore_errors=True)
        workdir.mkdir(parents=True, exist_ok=True)
        atomic_write(corpus, text)
        try:
            metrics = Trainer(config, log=lambda *a, **k: None).fit()
        except (ZooDataError, RecipeError) as e:
            raise ScoreInputError(f"{recipe} on {len(texts)} lines: {e}") from None
        if metrics.get("interrupted"):
            raise ScoreInputError(f"{recipe}: training was interrupted")
        export_run(run_dir, export_dir)
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)
            corpus.unlink(missing_ok=True)
    return export_dir, config, fraction


def reverse_lm_score(samples, reference, workdir, *, recipe: str = REVERSE_LM_RECIPE, seed: int = 0,
                     overrides=(), keep: bool = False) -> ReverseLMResult:
    """Train `recipe` on `samples` (through the platform's trainer, in `workdir`), export it and
    return the perplexity per word of `reference` under it."""
    from zoo.report.runner import run_key

    samples = check_texts(samples, "samples")
    reference = check_texts(reference, "reference")
    export_dir, config, fraction = train_lm(samples, workdir, recipe=recipe, seed=seed, overrides=overrides,
                                            keep=keep)
    scored = lm_score(export_dir, reference, what="reference")
    held = _held_out(samples, fraction)
    return ReverseLMResult(perplexity=scored.perplexity, nll_per_word=scored.nll_per_word,
                           bits_per_char=scored.bits_per_char,
                           samples=sum(1 for t in samples if t.split()) - held,   # empty ones: nothing to read
                           held_out_samples=held, reference_texts=scored.texts, reference_words=scored.words,
                           recipe=recipe, run_key=run_key(config), model=scored.model.split(" at ")[0])


def _held_out(samples, fraction: float) -> int:
    from zoo.data.splits import content_hash

    return sum(1 for t in samples if t.split() and content_hash(" ".join(t.split()).encode("utf-8")) < fraction)


# -- every metric of one sample set ----------------------------------------------------------

def open_encoder(export):
    """A sentence-encoder client of the textgen family (a `TextEncoder`), or one line saying
    what the export is instead."""
    from zoo.export.client import ExportClient, open_export
    from zoo.export.contracts import TextEncoder, describe, require

    client = export if isinstance(export, ExportClient) else open_export(export)
    family = client.manifest.get("family")
    if family != "textgen":
        raise ScoreInputError(f"--encoder {str(client.export_dir)!r} is a {family} export "
                              f"({client.manifest.get('model')}; it can: {describe(client)}), not a sentence "
                              f"encoder of the textgen family")
    return require(client, TextEncoder, "the Fréchet distance")


def embed(client, texts, what: str) -> np.ndarray:
    """float64 [n, d] embeddings; one line when the encoder gives a non-finite value."""
    x = np.asarray(client.encode(list(texts)), np.float64)
    if x.ndim != 2 or x.shape[0] != len(texts):
        raise ScoreInputError(f"the encoder {client.export_dir} gave shape {x.shape} for {len(texts)} {what}")
    if not np.all(np.isfinite(x)):
        raise ScoreInputError(f"the encoder {client.export_dir} gave a non-finite embedding for the {what}")
    return x


def _entry(result, on: str, value=None) -> dict:
    d = result.to_dict()
    d["value"] = float(getattr(result, "value") if value is None else value)
    d["on"] = on
    return d


def evaluate_samples(samples, reference, *, samples2=None, encoders=(), lm=None, train=None,
                     reverse_lm: bool = True, workdir=None, mauve_seeds=(0, 1, 2, 3, 4),
                     reverse_lm_recipe: str = REVERSE_LM_RECIPE, lm_recipe: str = LM_SCORE_RECIPE,
                     seed: int = 0, reference_embeddings=None, undefined_as_nan: bool = False) -> dict:
    """Every metric of `samples` (texts) against `reference` (real held-out texts), each with its
    sample sizes and settings: {"metrics": {name: {"value", "on", ...}}, "definitions": ...}.

    `encoders`: sentence-encoder exports (or clients) for FD, MAUVE and precision/recall, the
    first unsuffixed, the others suffixed by their position (fd_2 ...); `lm`: an LM export for
    the LM score, else `train` (real training texts) trains `lm_recipe` for it; `reverse_lm`
    trains `reverse_lm_recipe` on the samples (in `workdir`). `reference_embeddings`: a cache
    {encoder fingerprint: array} the caller keeps across calls with one reference set.
    `undefined_as_nan`: a metric the samples leave undefined (the reverse LM of a generator that
    collapsed to empty or identical sentences has nothing to train on) is NaN with the reason in
    its "on", instead of an error: a study keeps the row and judges no claim on that metric."""
    from zoo.eval import textgen as tm

    samples = check_texts(samples, "samples")
    reference = check_texts(reference, "reference")
    if len(reference) < 2:
        raise ScoreInputError(f"the reference set has {len(reference)} line; BLEU against a set and the "
                              f"distribution metrics need at least 2 (a held-out set of real sentences)")
    tok = [tm.tokenize_words(t) for t in samples]
    ref_tok = [tm.tokenize_words(t) for t in reference]
    n, m = len(samples), len(reference)
    out: dict = {}
    out["bleu4"] = _entry(tm.bleu(tok, ref_tok, max_n=4), f"{n} samples vs {m} references")
    if n >= 2:
        out["self_bleu4_leave_one_out"] = _entry(tm.self_bleu(tok, max_n=4, definition="leave_one_out"),
                                                 f"{n} samples, each vs the other {n - 1}")
    if samples2 is not None:
        tok2 = [tm.tokenize_words(t) for t in check_texts(samples2, "samples2")]
        out["self_bleu4_independent"] = _entry(tm.self_bleu(tok, tok2, max_n=4, definition="independent"),
                                               f"{n} samples vs {len(tok2)} of a second set")
    for k in (1, 2, 3, 4):
        r = tm.distinct_ngrams(tok, k)
        out[f"distinct_{k}"] = _entry(r, f"{n} samples, {r.total} {k}-grams", r.ratio)
    out["unique_4grams"] = _entry(tm.distinct_ngrams(tok, 4), f"{n} samples", tm.distinct_ngrams(tok, 4).unique)
    encoders_used = []
    cache = reference_embeddings if reference_embeddings is not None else {}
    for i, enc in enumerate(encoders):
        client = open_encoder(enc)
        fp = export_fingerprint(client.export_dir)
        name = client.manifest.get("model") or f"encoder{i + 1}"
        suffix = "" if i == 0 else f"_{i + 1}"
        tag = f"{name} {fp[:12]}"
        encoders_used.append({"export": str(client.export_dir), "model": name, "sha256": fp})
        if fp not in cache:
            cache[fp] = embed(client, reference, "reference")
        y, x = cache[fp], embed(client, samples, "samples")
        out[f"fd{suffix}"] = _entry(tm.frechet_distance(y, x, encoder=fp), f"{n} samples vs {m} references, {tag}")
        out[f"mauve{suffix}"] = _entry(tm.mauve(x, y, seeds=tuple(mauve_seeds), encoder=fp),
                                       f"{n} vs {m}, {tag}, mean of {len(mauve_seeds)} k-means seeds")
        pr = tm.precision_recall(y, x, k=3, encoder=fp)
        out[f"precision{suffix}"] = _entry(pr, f"{n} vs {m}, k=3, {tag}", pr.precision)
        out[f"recall{suffix}"] = _entry(pr, f"{n} vs {m}, k=3, {tag}", pr.recall)
    trained_here = lm is None and train is not None
    if trained_here:
        if workdir is None:
            raise ScoreInputError("the LM score on --train needs a work folder to train in")
        lm = train_lm(check_texts(train, "train"), Path(workdir) / "lm_score", recipe=lm_recipe, seed=seed)[0]
    if lm is not None:
        r = lm_score(lm, samples)
        source = f" ({lm_recipe} trained on {len(train)} lines)" if trained_here else ""
        out["lm_score"] = _entry(r, f"{n} samples, {r.words} words, {r.model.split(' at ')[0]}{source}")
    if reverse_lm:
        if workdir is None:
            raise ScoreInputError("the reverse-LM score needs a work folder to train in")
        try:
            r = reverse_lm_score(samples, reference, Path(workdir) / "reverse_lm", recipe=reverse_lm_recipe,
                                 seed=seed)
            out["reverse_lm"] = _entry(r, f"{reverse_lm_recipe} on {r.samples} samples, scored on {m} references")
        except ScoreInputError as e:
            if not (undefined_as_nan and str(e).startswith("reverse LM: ")):
                raise
            out["reverse_lm"] = {"value": float("nan"), "on": f"undefined: {e}", "undefined": True}
    for name, d in out.items():
        if not math.isfinite(d["value"]) and not d.get("undefined"):
            raise ScoreInputError(f"{name} came out {d['value']}; refusing to report it")
    return {"metrics": out, "encoders": encoders_used,
            "definitions": {"tokens": "zoo.eval.textgen.tokenize_words", "lm_score": DEFINITION,
                            "reverse_lm": DEFINITION, "fd": "Eq. 5.6.1, reference vs samples embeddings",
                            "bleu4": "corpus BLEU-4, no smoothing, every sample vs the whole reference set"}}

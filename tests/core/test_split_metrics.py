"""Metrics over a whole split (`zoo.eval.metrics.SplitMetric`) on a real task: the byte
autoencoder, scored by three small, exact metrics that a ratio of sums cannot express: corpus
BLEU-2 of the reconstruction (clipped n-gram counts per order and lengths), a Fréchet distance
between byte-class histograms of reconstruction and input (Σx and Σxxᵀ), and distinct bigrams of
the reconstructions (a set). Each is the same on two replicas as on one device, to the last bit,
whatever the batches; the trainer's periodic evaluation writes them to TensorBoard and `zoo eval`
to metrics.json; the ratio metrics are what the one-device loop always gave."""
import json
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest
import tensorflow as tf

import zoo.registry
from tests.helpers import phrase_corpus, scalars, tiny_recipe
from zoo.eval.loop import Evaluator, evaluate
from zoo.eval.metrics import Metric, SplitMetric, metric_values
from zoo.models.byte_rcae.task import ByteAutoencoderTask
from zoo.training.trainer import Trainer

TASK = "split_metric_autoencoder"
SPLIT = ("bleu", "frechet", "distinct_2")


def _ngrams(tokens, n):
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def _valid(row):
    return [int(t) for t in row if t >= 0]   # padding is -1


@dataclass(frozen=True)
class CorpusBleu(SplitMetric):
    """Corpus BLEU ("BLEU: a Method for Automatic Evaluation of Machine Translation", Papineni et
    al. 2002, §2.1-2.3): modified (clipped) n-gram precisions summed over the corpus, their
    geometric mean, the brevity penalty. Reports the precision of every order too."""
    max_order: int = 4

    def start(self):
        return np.zeros((2, self.max_order), np.int64), np.zeros(2, np.int64)   # (clipped, total), lengths

    def add(self, state, outputs):
        counts, lengths = (a.copy() for a in state)
        for hyp, ref in zip(outputs[self.inputs[0]], outputs[self.inputs[1]]):
            hyp, ref = _valid(hyp), _valid(ref)
            lengths += (len(hyp), len(ref))
            for n in range(1, self.max_order + 1):
                h, r = Counter(_ngrams(hyp, n)), Counter(_ngrams(ref, n))
                counts[0, n - 1] += sum(min(c, r[g]) for g, c in h.items())
                counts[1, n - 1] += sum(h.values())
        return counts, lengths

    def result(self, state):
        (clipped, total), (hyp_len, ref_len) = state
        if not total.all():
            return None
        precisions = clipped / total
        bleu = 0.0 if not clipped.all() else math.exp(np.mean(np.log(precisions)))
        brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
        return {"": bleu * brevity, **{f"precision_{n + 1}": p for n, p in enumerate(precisions)}}


@dataclass(frozen=True)
class FrechetDistance(SplitMetric):
    """The Fréchet distance between Gaussians fitted to two sets of embeddings ("GANs Trained by
    a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", Heusel et al. 2017, §3):
    |μ1 - μ2|² + Tr(Σ1 + Σ2 - 2 (Σ1 Σ2)^½), from n, Σx and Σxxᵀ of each set."""

    def start(self):
        return tuple((0, 0.0, 0.0) for _ in self.inputs)

    def add(self, state, outputs):
        return tuple((n + len(x), sx + x.sum(0), sxx + x.T @ x) for (n, sx, sxx), x in
                     zip(state, (np.asarray(outputs[k], np.float64) for k in self.inputs)))

    def result(self, state):
        if state[0][0] < 2:
            return None
        (mu1, c1), (mu2, c2) = [(sx / n, (sxx - np.outer(sx, sx) / n) / (n - 1)) for n, sx, sxx in state]
        # Tr((Σ1 Σ2)^½): the eigenvalues of a product of two covariances are real and >= 0.
        root = np.sqrt(np.clip(np.linalg.eigvals(c1 @ c2).real, 0.0, None)).sum()
        return float(np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2.0 * root)


@dataclass(frozen=True)
class DistinctNgrams(SplitMetric):
    """Distinct-n ("A Diversity-Promoting Objective Function for Neural Conversation Models",
    Li et al. 2016, §4.3.1): distinct n-grams over all n-grams of the generated sequences."""
    n: int = 2

    def start(self):
        return frozenset(), 0

    def add(self, state, outputs):
        seen, total = state
        grams = [g for row in outputs[self.inputs[0]] for g in _ngrams(_valid(row), self.n)]
        return seen | frozenset(grams), total + len(grams)

    def result(self, state):
        seen, total = state
        return len(seen) / total if total else None


def _byte_classes(ids, valid):
    """Per example, how many of its bytes fall in each of four classes (control, digits and
    punctuation, capitals, the rest): float32 counts, exact in any sum."""
    classes = tf.one_hot(tf.minimum(tf.maximum(ids, 0) // 32, 3), 4) * valid[..., None]
    return tf.reduce_sum(classes, axis=1)


class ScoredAutoencoder(ByteAutoencoderTask):
    """The byte autoencoder, also scored by the three split metrics (test-local task)."""
    metrics = {**ByteAutoencoderTask.metrics,
               "bleu": CorpusBleu(("reconstruction", "paragraph"), max_order=2, goal="max"),  # BLEU-2
               "frechet": FrechetDistance(("reconstruction_classes", "paragraph_classes")),
               "distinct_2": DistinctNgrams(("reconstruction",), goal="max")}

    def eval_sums(self, model, batch, *, step):
        sums = super().eval_sums(model, batch, step=step)
        valid = tf.cast(batch >= 0, tf.float32)
        predicted = tf.argmax(model(batch, training=False), -1, output_type=tf.int32)
        reconstruction = tf.where(batch >= 0, predicted, -1)
        return {**sums, "reconstruction": reconstruction, "paragraph": batch,
                "reconstruction_classes": _byte_classes(reconstruction, valid),
                "paragraph_classes": _byte_classes(batch, valid)}

    def analyze(self, model, out_dir):
        return {}   # the family's own analyses are tested with the family


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The scored task, registered for this module only, trained 20 steps on two replicas with an
    evaluation every 10."""
    zoo.registry.register_task(TASK, smoke_recipe="byte_rcae/smoke", family="byte_rcae")(ScoredAutoencoder)
    try:
        folder = tmp_path_factory.mktemp("split")
        config = tiny_recipe(folder / "run", task={"name": TASK, "max_length": 16}, model={"max_length": 16},
                             data={"corpus": str(phrase_corpus(folder)), "test_fraction": 0.25},
                             runtime={"strategy": "mirrored"},
                             trainer={"max_steps": 20, "eval_every_steps": 10, "text_samples": 0})
        trainer = Trainer(config, log=lambda *a, **k: None)
        assert trainer.strategy.num_replicas_in_sync == 2 and isinstance(trainer.task, ScoredAutoencoder)
        final = trainer.fit()
        yield trainer, final, folder / "run"
    finally:
        zoo.registry._TASKS.pop(TASK, None)


def _awkward_batches(task, count=21, batch=5):
    """`count` paragraphs padded to one length in batches of `batch`: every batch splits
    unevenly over two replicas (3 + 2) and the last holds one paragraph, fewer than replicas."""
    from zoo.models.byte_rcae.data import encode_batch

    ids = encode_batch((task.test_paragraphs + task.train_paragraphs)[:count], length=16)
    return tf.data.Dataset.from_tensor_slices(ids).batch(batch), ids


def test_split_metrics_on_two_replicas_equal_one_device(run):
    trainer, _, _ = run
    task, model = trainer.task, trainer.model
    batches, _ = _awkward_batches(task)
    assert [int(b.shape[0]) for b in batches] == [5, 5, 5, 5, 1]
    two = Evaluator(task, model, trainer.strategy)
    assert two.strategy is trainer.strategy   # the batches really are split over the replicas
    on_two, on_one = two(batches), Evaluator(task, model)(batches)
    names = [k for k in on_one if k.split("_depth")[0].startswith(SPLIT)]
    assert {"bleu", "bleu_precision_1", "bleu_precision_2", "frechet", "distinct_2"} <= set(names)
    assert {k: on_two[k] for k in names} == {k: on_one[k] for k in names}
    assert on_two["byte_error"] == on_one["byte_error"]   # integer counts: exact too
    assert on_two["loss"] == pytest.approx(on_one["loss"], rel=1e-6)
    # Not trivially equal: the trained model reconstructs part of the text, not all of it.
    assert 0.0 < on_one["bleu"] < on_one["bleu_precision_1"] < 1.0 and 0.0 < on_one["distinct_2"] <= 1.0
    assert on_one["frechet"] > 0.0


def test_split_metrics_equal_a_direct_computation_over_the_whole_split(run):
    """Accumulated batch by batch on two replicas = computed once from every reconstruction
    (BLEU as NLTK computes it, distinct bigrams as a Python set, moments from np.cov)."""
    from nltk.translate.bleu_score import corpus_bleu

    trainer, _, _ = run
    task, model = trainer.task, trainer.model
    batches, ids = _awkward_batches(task)
    got = Evaluator(task, model, trainer.strategy)(batches)
    predicted = np.argmax(model(ids, training=False), -1)
    hyps = [[int(t) for t, i in zip(p, x) if i >= 0] for p, x in zip(predicted, ids)]
    refs = [_valid(x) for x in ids]
    assert got["bleu"] == pytest.approx(corpus_bleu([[r] for r in refs], hyps, weights=(0.5, 0.5)), rel=1e-12)
    bigrams = [g for h in hyps for g in _ngrams(h, 2)]
    assert got["distinct_2"] == len(set(bigrams)) / len(bigrams)

    def classes(rows):
        return np.array([[sum(1 for t in r if min(t // 32, 3) == c) for c in range(4)] for r in rows], float)

    a, b = classes(hyps), classes(refs)
    c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = np.sqrt(np.clip(np.linalg.eigvals(c1 @ c2).real, 0.0, None)).sum()
    want = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(c1 + c2) - 2 * root
    assert got["frechet"] == pytest.approx(want, rel=1e-9)


def test_periodic_evaluation_writes_split_metrics_to_tensorboard(run):
    trainer, final, run_dir = run
    for tag in ("bleu", "bleu_precision_1", "bleu_precision_2", "frechet", "distinct_2", "byte_error"):
        logged = scalars(run_dir / "tb" / "eval", tag)
        assert [s for s, _ in logged] == [10, 20], tag
        assert logged[-1][1] == pytest.approx(final[tag], rel=1e-6), tag   # float32 summaries
    # Per batch group (recursion depth) like every metric.
    assert any(k.startswith("bleu_depth_") for k in final)
    # The trainer evaluated on its two replicas, over the test split's uneven buckets and
    # partial batches: the one-device loop gives the same split metrics to the last bit.
    one = evaluate(trainer.task, trainer.model)
    assert {k: final[k] for k in one if k.startswith(SPLIT)} == {k: v for k, v in one.items() if k.startswith(SPLIT)}


def test_zoo_eval_reports_split_metrics_in_metrics_json(run, tmp_path):
    from zoo.cli import main

    _, final, run_dir = run
    assert main(["eval", str(run_dir), "--out", str(tmp_path / "ev")]) == 0
    written = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    for name in ("bleu", "bleu_precision_2", "frechet", "distinct_2"):
        assert written[name] == final[name], name


def test_ratio_metrics_on_one_device_are_what_the_loop_always_gave(run):
    """`Metric` ratios through the new loop equal, bit for bit, today's loop: one traced
    `eval_sums` per batch, each sum read as a Python float and added in batch order."""
    trainer, _, _ = run
    task, model = trainer.task, trainer.model
    step = tf.function(lambda batch, s: task.eval_sums(model, batch, step=s))
    totals = {None: {}}
    for batch in task.eval_dataset(model):
        sums = {k: float(v) for k, v in step(batch, tf.constant(0, tf.int64)).items() if v.shape.rank == 0}
        for acc in (totals[None], totals.setdefault(task.batch_group(batch), {})):
            for k, v in sums.items():
                acc[k] = acc.get(k, 0.0) + v
    ratios = {k: m for k, m in task.metrics.items() if isinstance(m, Metric)}
    want = metric_values(ratios, totals.pop(None))
    for label, acc in totals.items():
        want.update(metric_values(ratios, acc, suffix=f"_{label}"))
    got = evaluate(task, model)
    assert len(want) > 2 and {k: got[k] for k in want} == want
    # Split metrics are no ratio of window sums: the training curves leave them out.
    assert set(metric_values(task.metrics, totals[next(iter(totals))])) == {"loss", "byte_error"}


def test_a_split_metric_says_its_goal_and_names_its_parts():
    bleu = CorpusBleu(("h", "r"), goal="max")
    assert bleu.goal == "max" and DistinctNgrams(("h",)).goal == "min"
    with pytest.raises(ValueError, match="'min' or 'max'"):
        DistinctNgrams(("h",), goal="maximum")
    state = bleu.add(bleu.start(), {"h": np.array([[1, 2, 3, 4, -1]]), "r": np.array([[1, 2, 4, 5, 6]])})
    values = bleu.values("bleu", state, suffix="_g")
    assert set(values) == {"bleu_g"} | {f"bleu_precision_{n}_g" for n in range(1, 5)}
    assert values["bleu_precision_1_g"] == 3 / 4 and values["bleu_precision_2_g"] == 1 / 3
    assert values["bleu_g"] == 0.0   # no 3-gram in common
    assert bleu.values("bleu", bleu.start()) == {}   # nothing scored: no value (as a zero denominator)

"""The supervised task that trains the sentence encoders (`textgen_encoder`): embeddings that carry
the topic and the meaning of a sentence, learnt offline from the topic sentences of
`zoo/models/textgen/data.py` (Semeniuta, "Recurrent Neural Networks for Discriminative and
Generative Learning", dissertation, 2019, §5.6.2 trains its InferSent and UniSent encoders with
supervision; the zoo has no NLI corpus, so the supervision here is the sentence's article).

Two heads read the encoder's codes, both beside the encoder (`SentenceEncoder.topic_logits` and
`pair_logits`; the export serves only the code):
(a) topic: which of the corpus's topics (Wikipedia articles) a sentence comes from, a softmax
    over the topics from the code;
(b) adjacency: whether sentence v directly precedes or follows sentence u in the same article,
    a classifier over Conneau et al.'s pair features [u, v, |u - v|, u * v] ("Supervised
    Learning of Universal Sentence Representations from Natural Language Inference Data",
    2017, §3.1). Negatives are sentences of the same article that are not adjacent
    (`negatives: same_topic`, so the topic alone cannot answer) or of any article (`any_topic`).

The loss per anchor sentence is the topic cross-entropy plus `adjacency_weight` times the
adjacency cross-entropy (anchors with a neighbour in their split: half paired with a neighbour,
half with a negative, drawn anew every pass).

Held-out evaluation: every held-out sentence is an anchor (unseen in training); its partner is
its neighbour or a negative from the whole article (drawn once, by `data.seed`). Metrics:
`topic_accuracy` (objective; chance is 1 / topics, the majority baseline `topic_majority` is in
the data summary) and `adjacency_accuracy` (chance 0.5; `adjacency_majority` the share of the
larger class of the held-out pairs).

Tokens: a SentencePiece model of `vocab_size` pieces (the dissertation's 4k) fitted on the
training sentences (`zoo.data.tokenizers`), saved with the run and inside the export; ids 0
(never a piece) pad; a sentence is cut to its first `max_tokens` pieces in training and
evaluation (the export encodes whole sentences).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from zoo.config import NonNegativeFloat, PositiveInt, RecipeError
from zoo.data import content_hash
from zoo.data.errors import ZooDataError
from zoo.eval.metrics import Metric
from zoo.registry import register_task
from zoo.training.task import Task

ARTIFACT_FILES = ("tokenizer.json", "heldout.json", "data_summary.json")


@dataclass(frozen=True)
class EncoderOptions:
    vocab_size: PositiveInt = 4000        # SentencePiece pieces, <eos> (padding) and <unk> included
    max_tokens: PositiveInt = 64          # pieces per sentence in training and evaluation
    adjacency_weight: NonNegativeFloat = 1.0
    negatives: Literal["same_topic", "any_topic"] = "same_topic"
    eval_batch_size: PositiveInt | None = None   # default: data.batch_size


def _capped(items: list, cap: int | None, person: bytes) -> list:
    """The first `cap` items in an order fixed by their text's hash (every topic keeps its share)."""
    if not cap or len(items) <= cap:
        return items
    keep = set(sorted(range(len(items)), key=lambda i: content_hash(items[i].text.encode("utf-8"), person))[:cap])
    return [s for i, s in enumerate(items) if i in keep]


def _negative(rng, i, topics, positions, starts, ends, same_topic: bool, n: int) -> int:
    """A partner for anchor i that is not adjacent to it (nor it): of its topic or of any."""
    lo, hi = (starts[topics[i]], ends[topics[i]]) if same_topic else (0, n)
    for _ in range(8):
        j = int(rng.integers(lo, hi))
        if topics[j] != topics[i] or abs(int(positions[j]) - int(positions[i])) > 1:
            return j
    return j  # a topic of two or three sentences: nothing else to draw (rare, kept as drawn)


def pairs(sentences, seed: int, same_topic: bool):
    """(partner index, adjacent label, has-neighbour weight) per sentence of `sentences` (one
    split, in document order): half of the anchors with a neighbour in the list get it, the
    others a negative; anchors without one get a negative with weight 0."""
    n = len(sentences)
    rng = np.random.default_rng(seed)
    topics = np.array([s.topic for s in sentences], np.int64)
    positions = np.array([s.position for s in sentences], np.int64)
    starts, ends = {}, {}
    for i, t in enumerate(topics.tolist()):
        starts.setdefault(t, i)
        ends[t] = i + 1
    where = {(t, p): i for i, (t, p) in enumerate(zip(topics.tolist(), positions.tolist()))}
    partner = np.zeros(n, np.int64)
    label = np.zeros(n, np.float32)
    weight = np.zeros(n, np.float32)
    coins = rng.random(n)
    for i in range(n):
        near = [where[k] for k in ((topics[i], positions[i] - 1), (topics[i], positions[i] + 1)) if k in where]
        if near:
            weight[i] = 1.0
            if coins[i] < 0.5:
                partner[i], label[i] = near[int(rng.integers(len(near)))], 1.0
                continue
        partner[i] = _negative(rng, i, topics, positions, starts, ends, same_topic, n)
    return partner, label, weight


@register_task("textgen_encoder", smoke_recipe="textgen/smoke")
class SentenceEncoderTask(Task):
    """Topic and adjacency supervision for the sentence encoders; see the module docstring."""

    Options = EncoderOptions
    objective = "topic_accuracy"
    metrics = {"loss": Metric("loss_sum"),
               "topic_accuracy": Metric("topic_correct", goal="max"),
               "adjacency_accuracy": Metric("adjacent_correct", "pairs", goal="max")}

    # -- data --------------------------------------------------------------------------------
    def load_data(self):
        from zoo.data.tokenizers import fit_tokenizer
        from zoo.models.textgen.data import CORPORA, topic_names, topic_sentences

        d, o = self.config.data, self.options
        if d.corpus not in CORPORA:
            raise RecipeError(f"data.corpus must be one of {sorted(CORPORA)} for the {self.name} task, "
                              f"got {d.corpus!r}")
        try:
            train = topic_sentences(d.corpus, "train", d.test_fraction)
            test = topic_sentences(d.corpus, "test", d.test_fraction)
        except ZooDataError as e:
            raise RecipeError(str(e)) from None
        self.topic_names = topic_names(d.corpus, d.test_fraction)
        self.train = _capped(train, d.max_paragraphs, b"zoo-cap-train")
        self.test = _capped(test, d.max_test_paragraphs, b"zoo-cap-test")
        try:
            self.tokenizer = fit_tokenizer("sentencepiece", [s.text for s in self.train], o.vocab_size)
        except ValueError as e:
            raise RecipeError(f"task.vocab_size {o.vocab_size}: {e}") from None
        # Held-out pairs: each held-out anchor with a partner from its whole article (drawn once).
        whole = sorted(train + test, key=lambda s: (s.topic, s.position))
        index = {(s.topic, s.position): i for i, s in enumerate(whole)}
        partner, label, weight = pairs(whole, d.seed, o.negatives == "same_topic")
        rows = [index[(s.topic, s.position)] for s in self.test]
        self.heldout = {"anchors": [s.text for s in self.test], "topics": [s.topic for s in self.test],
                        "partners": [whole[partner[r]].text for r in rows],
                        "adjacent": [float(label[r]) for r in rows], "paired": [float(weight[r]) for r in rows]}
        self._summary = None
        self._arrays = {}

    def save_artifacts(self, folder):
        from zoo.io import atomic_write_json

        folder = Path(folder)
        atomic_write_json(folder / "tokenizer.json", self.tokenizer.to_json())
        atomic_write_json(folder / "heldout.json", {**self.heldout, "topic_names": self.topic_names})
        atomic_write_json(folder / "data_summary.json", self.data_summary())

    def restore(self, folder):
        from zoo.data.tokenizers import Tokenizer

        folder = Path(folder)
        files = [folder / n for n in ARTIFACT_FILES]
        if not all(f.is_file() for f in files):
            return False
        self.tokenizer = Tokenizer.from_json(json.loads(files[0].read_text(encoding="utf-8")))
        held = json.loads(files[1].read_text(encoding="utf-8"))
        self.topic_names = held.pop("topic_names")
        self.heldout, self.train, self.test = held, [], None
        self._summary = json.loads(files[2].read_text(encoding="utf-8"))
        self._arrays = {}
        return True

    def data_summary(self):
        if self._summary:
            return dict(self._summary)
        topics = np.array(self.heldout["topics"])
        paired = np.array(self.heldout["paired"]) > 0
        adjacent = np.array(self.heldout["adjacent"])[paired]
        share = float(adjacent.mean()) if adjacent.size else 0.0
        out = {"topics": len(self.topic_names), "test_sentences": int(topics.size),
               "test_pairs": int(paired.sum()), "vocab_size": int(self.tokenizer.vocab_size),
               "topic_chance": 1.0 / len(self.topic_names),
               "topic_majority": float(np.bincount(topics).max() / topics.size),
               "adjacency_majority": max(share, 1.0 - share)}
        if self.train:
            out["train_sentences"] = len(self.train)
            out["train_topics"] = len({s.topic for s in self.train})
        return out

    def model_arguments(self):
        return {"vocab_size": int(self.tokenizer.vocab_size), "num_topics": len(self.topic_names)}

    def check_model(self, model):
        if getattr(model, "vocab_size", None) != self.tokenizer.vocab_size:
            raise RecipeError(f"the model has vocab_size {getattr(model, 'vocab_size', None)} but the "
                              f"tokenizer {self.tokenizer.vocab_size}")
        if getattr(model, "num_topics", None) != len(self.topic_names):
            raise RecipeError(f"the model has num_topics {getattr(model, 'num_topics', None)} but the data "
                              f"{len(self.topic_names)} topics")

    # -- batches -----------------------------------------------------------------------------
    def ids(self, texts) -> np.ndarray:
        """int32 [len(texts), max_tokens]: the pieces of each text, cut, padded with 0."""
        import tensorflow as tf

        if not len(texts):
            return np.zeros([0, self.options.max_tokens], np.int32)
        ragged = self.tokenizer.tf_encode(tf.constant(list(texts), tf.string))
        return ragged.to_tensor(default_value=0, shape=[None, self.options.max_tokens]).numpy().astype(np.int32)

    def _ids_of(self, split):
        if split not in self._arrays:
            if split == "train":
                self._arrays[split] = self.ids([s.text for s in self.train])
            else:
                self._arrays[split] = (self.ids(self.heldout["anchors"]), self.ids(self.heldout["partners"]))
        return self._arrays[split]

    def train_dataset(self, model, pass_index):
        import tensorflow as tf

        self.check_model(model)
        d = self.config.data
        ids = self._ids_of("train")
        partner, label, weight = pairs(self.train, d.seed * 1000003 + pass_index + 1,
                                       self.options.negatives == "same_topic")
        ds = tf.data.Dataset.from_tensor_slices({
            "x": ids, "y": ids[partner], "topic": np.array([s.topic for s in self.train], np.int32),
            "adjacent": label, "paired": weight})
        ds = ds.shuffle(len(ids), seed=d.seed + pass_index, reshuffle_each_iteration=False)
        return ds.batch(d.batch_size, drop_remainder=True)

    def eval_dataset(self, model):
        import tensorflow as tf

        self.check_model(model)
        x, y = self._ids_of("test")
        h = self.heldout
        ds = tf.data.Dataset.from_tensor_slices({
            "x": x, "y": y, "topic": np.array(h["topics"], np.int32),
            "adjacent": np.array(h["adjacent"], np.float32), "paired": np.array(h["paired"], np.float32)})
        return ds.batch(self.options.eval_batch_size or self.config.data.batch_size)

    # -- losses ------------------------------------------------------------------------------
    def batch_sums(self, model, batch, *, step, training):
        import tensorflow as tf

        n = tf.shape(batch["x"])[0]
        codes = model(tf.concat([batch["x"], batch["y"]], axis=0), training=training)
        u, v = codes[:n], codes[n:]
        logits = tf.cast(model.topic_logits(u), tf.float32)
        topic = tf.cast(batch["topic"], tf.int32)
        topic_nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=topic, logits=logits)
        pair = tf.cast(model.pair_logits(u, v), tf.float32)
        adjacent, paired = tf.cast(batch["adjacent"], tf.float32), tf.cast(batch["paired"], tf.float32)
        pair_nll = tf.nn.sigmoid_cross_entropy_with_logits(labels=adjacent, logits=pair) * paired
        right_topic = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), topic), tf.float32)
        right_pair = tf.cast(tf.equal(tf.cast(pair > 0, tf.float32), adjacent), tf.float32) * paired
        return {"loss_sum": tf.reduce_sum(topic_nll) + self.options.adjacency_weight * tf.reduce_sum(pair_nll),
                "count": tf.cast(n, tf.float32), "topic_correct": tf.reduce_sum(right_topic),
                "adjacent_correct": tf.reduce_sum(right_pair), "pairs": tf.reduce_sum(paired)}

    # -- reporting ---------------------------------------------------------------------------
    def final_metrics(self, model):
        return dict(self.data_summary())

    def analyze(self, model, out_dir):
        return self.final_metrics(model)

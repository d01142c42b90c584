"""The recurrent family's tasks, one per problem, over a small shared base:

    temporal_order  Semeniuta, "Recurrent Neural Networks for Discriminative and Generative
                    Learning" (dissertation, 2019), §3.4.1: classify the order of A/B (4
                    classes); accuracy and error
    adding          Xu et al., "Greedy Layer-wise Training of Long Short Term Memory Networks",
                    §4.1: regress the sum of two marked values; error = share of
                    |prediction - target| > 0.04 (the paper's criterion), loss = mean squared error
    seq_mnist       Xu et al. §4.2: 28 binarized rows of 28 pixels -> digit; error
    char_lm         Semeniuta §3.4.3: next-character prediction on a real corpus, in bits per
                    character (the loss stays in nats) and perplexity
    digit_seq2seq   Xu et al. §4.4 at small scale: digit-string transduction (reverse, copy or
                    sort) with `Seq2SeqLSTM`; token error/accuracy and whole-sequence accuracy
                    under teacher forcing, plus greedy-decoding sequence accuracy

Every task can pretrain an LSTM stack greedily, layer by layer (`pretrain_epochs` > 0: one
phase per layer before the main training, Xu et al. §3.5), and reports its metrics on
`train_metric_examples` training examples too (e.g. Table 3.1's train accuracy).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from zoo.config import NonNegativeFloat, PositiveFloat, PositiveInt, RecipeError
from zoo.data.errors import ZooDataError
from zoo.registry import register_task, resolved_model_args
from zoo.eval.metrics import Metric, nats_to_bits, perplexity
from zoo.training.task import Task

ADDING_TOLERANCE = 0.04


@dataclass(frozen=True)
class RecurrentOptions:
    pretrain_epochs: NonNegativeFloat = 0.0      # greedy layer-wise pretraining epochs per layer; 0 = random init
    pretrain_learning_rate: PositiveFloat | None = None   # default: the trainer's
    pretrain_max_steps: PositiveInt | None = None
    train_metric_examples: PositiveInt = 2000  # training examples scored for the final train metrics


class RecurrentTask(Task):
    """Shared base: (inputs, targets) arrays for train and test, batched by `data.batch_size`."""

    Options = RecurrentOptions
    objective = "error"
    metrics = {"loss": Metric("loss_sum"), "error": Metric("errors"), "accuracy": Metric("correct", goal="max")}

    # -- data --------------------------------------------------------------------------------
    def restore(self, folder):
        # Generated from the recipe's seeds (or read from an installed package): nothing to store.
        self.load_data()
        return True

    def _check_batches(self):
        if len(self.train[1]) < self.config.data.batch_size:
            raise ZooDataError(f"{len(self.train[1])} training examples are fewer than one batch "
                               f"of {self.config.data.batch_size}")

    def arrays(self, model, split: str, limit: int | None = None):
        """(inputs, targets) of a split, the first `limit` examples."""
        self.check_model(model)
        x, y = self.train if split == "train" else self.test
        if limit:
            x = tuple(a[:limit] for a in x) if isinstance(x, tuple) else x[:limit]
            y = y[:limit]
        return x, y

    def data_summary(self):
        return {"train_examples": int(len(self.train[1])), "test_examples": int(len(self.test[1]))}

    def train_dataset(self, model, pass_index):
        import tensorflow as tf

        x, y = self.arrays(model, "train")
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        ds = ds.shuffle(len(y), seed=self.config.data.seed + pass_index, reshuffle_each_iteration=False)
        # Full batches only: every step has one static shape (one trace, XLA-friendly).
        return ds.batch(self.config.data.batch_size, drop_remainder=True)

    def eval_dataset(self, model, split: str = "test", limit: int | None = None):
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices(self.arrays(model, split, limit)).batch(
            self.config.data.batch_size)

    def _require(self, model, attr, size, outputs, readout="last"):
        if getattr(model, attr, None) != size or model.num_outputs != outputs or model.readout != readout:
            raise RecipeError(f"task {self.name} needs a model with {attr}={size}, num_outputs="
                              f"{outputs}, readout={readout}; got input_dim={model.input_dim}, "
                              f"input_vocab={model.input_vocab}, num_outputs={model.num_outputs}, "
                              f"readout={model.readout}")

    # -- loss and metrics --------------------------------------------------------------------
    def batch_sums(self, model, batch, *, step, training):
        x, y = batch
        return _classification_sums(model(x, training=training), y)[0]

    # -- phases: greedy layer-wise pretraining, then the main training -----------------------
    def pretrain_inputs(self, batch):
        """The model input of a batch, which the layer autoencoders reconstruct."""
        return batch[0]

    def phases(self, model):
        main = super().phases(model)
        o = self.options
        if not o.pretrain_epochs:
            return main
        if model.cell != "lstm":
            raise RecipeError("greedy layer-wise pretraining is defined for LSTM stacks (cell: lstm)")
        from zoo.models.recurrent.pretrain import greedy_phases

        return greedy_phases(model, self.pretrain_inputs, epochs=o.pretrain_epochs,
                             learning_rate=o.pretrain_learning_rate, max_steps=o.pretrain_max_steps) + main

    # -- reporting ---------------------------------------------------------------------------
    def split_metrics(self, model, split: str, limit: int | None = None) -> dict:
        """The task's metrics on a split through the one evaluation loop."""
        from zoo.eval.loop import evaluate

        return evaluate(self, model, self.eval_dataset(model, split, limit))

    def final_metrics(self, model):
        train = self.split_metrics(model, "train", self.options.train_metric_examples)
        return {**{f"train_{k}": v for k, v in train.items()}, **self.data_summary()}

    def analyze(self, model, out_dir):
        return self.final_metrics(model)


@dataclass(frozen=True)
class GeneratedOptions(RecurrentOptions):
    """Options of a task whose examples are generated from the recipe's seed."""
    length: PositiveInt = 10
    train_examples: PositiveInt = 6400
    test_examples: PositiveInt = 1000


@dataclass(frozen=True)
class TemporalOrderOptions(GeneratedOptions):
    length: PositiveInt = 15                  # the dissertation's "short" (15) and "medium" (30) sequences
    train_examples: PositiveInt = 6400        # the dissertation's 200 batches of 32
    test_examples: PositiveInt = 2000


@register_task("temporal_order", smoke_recipe="recurrent/smoke_temporal_order")
class TemporalOrderTask(RecurrentTask):
    Options = TemporalOrderOptions

    def load_data(self):
        from zoo.data.synthetic import temporal_order

        o, seed = self.options, self.config.data.seed
        self.train = temporal_order(o.train_examples, o.length, seed)
        self.test = temporal_order(o.test_examples, o.length, seed + 10_000)
        self._check_batches()

    def check_model(self, model):
        self._require(model, "input_vocab", 4, 4)


@dataclass(frozen=True)
class AddingOptions(GeneratedOptions):
    length: PositiveInt = 200
    train_examples: PositiveInt = 10_000      # Xu et al.: 100,000 / 10,000, too slow for 2 CPU cores
    test_examples: PositiveInt = 2000


@register_task("adding", smoke_recipe="recurrent/smoke_adding")
class AddingTask(RecurrentTask):
    Options = AddingOptions
    metrics = {"loss": Metric("loss_sum"), "error": Metric("errors")}

    def load_data(self):
        from zoo.data.synthetic import adding_problem

        o, seed = self.options, self.config.data.seed
        self.train = adding_problem(o.train_examples, o.length, seed)
        self.test = adding_problem(o.test_examples, o.length, seed + 10_000)
        self._check_batches()

    def check_model(self, model):
        self._require(model, "input_dim", 2, 1)

    def batch_sums(self, model, batch, *, step, training):
        import tensorflow as tf

        x, y = batch
        # float32 loss whatever the model's compute dtype (mixed precision).
        diff = tf.cast(model(x, training=training)[:, 0], tf.float32) - tf.cast(y, tf.float32)
        return {"loss_sum": tf.reduce_sum(tf.square(diff)), "count": tf.cast(tf.shape(y)[0], tf.float32),
                "errors": tf.reduce_sum(tf.cast(tf.abs(diff) > ADDING_TOLERANCE, tf.float32))}


@dataclass(frozen=True)
class SeqMnistOptions(RecurrentOptions):
    binarize: bool = True             # pixels > 127 -> 1, else 0 (Xu et al. §4.2); false: scaled to [0, 1]


@register_task("seq_mnist", smoke_recipe="recurrent/smoke_seq_mnist")
class SequentialMnistTask(RecurrentTask):
    Options = SeqMnistOptions

    def load_data(self):
        from zoo.data.splits import permutation_split
        from zoo.data.synthetic import sequential_mnist

        d = self.config.data
        x, y = sequential_mnist(binarize=self.options.binarize)
        tr, te = permutation_split(len(y), d.test_fraction, d.seed)
        if d.max_paragraphs:
            tr = tr[: d.max_paragraphs]
        self.train, self.test = (x[tr], y[tr]), (x[te], y[te])
        self._check_batches()

    def check_model(self, model):
        self._require(model, "input_dim", 28, 10)


@dataclass(frozen=True)
class CharLMOptions(RecurrentOptions):
    length: PositiveInt = 100                 # non-overlapping windows of this many characters


@register_task("char_lm", smoke_recipe="recurrent/smoke_char_lm")
class CharLMTask(RecurrentTask):
    """Character-level language modelling over the recipe's corpus; the character vocabulary is
    the `input_vocab - 1` most frequent training characters (ties by code point) plus <unk>."""

    Options = CharLMOptions
    objective = "bits_per_char"
    metrics = {"loss": Metric("loss_sum"), "bits_per_char": Metric("loss_sum", transform=nats_to_bits),
               "perplexity": Metric("loss_sum", transform=perplexity)}

    def load_data(self):
        from zoo.data import load_paragraphs, split_paragraphs

        d = self.config.data
        paragraphs = load_paragraphs(d.corpus, d.field)
        train, test = split_paragraphs(paragraphs, d.test_fraction)
        if not test:
            test = train[: max(1, len(train) // 10)]
        if d.max_paragraphs:
            train = train[: d.max_paragraphs]
        if d.max_test_paragraphs:
            test = test[: d.max_test_paragraphs]
        self.train_text = "\n\n".join(p.decode("utf-8", errors="replace") for p in train)
        self.test_text = "\n\n".join(p.decode("utf-8", errors="replace") for p in test)
        self.vocabulary = self._build_vocabulary(self._vocab_size())

    def _vocab_size(self) -> int:
        return int(resolved_model_args(self.config.model)["input_vocab"])

    def _build_vocabulary(self, size: int) -> list[str]:
        counts: dict[str, int] = {}
        for ch in self.train_text:
            counts[ch] = counts.get(ch, 0) + 1
        return sorted(counts, key=lambda c: (-counts[c], c))[: size - 1]

    def save_artifacts(self, folder):
        # The vocabulary, the test text and the part of the training text the train metrics read.
        from zoo.io import atomic_write, atomic_write_json

        folder = Path(folder)
        head = self.options.train_metric_examples * self.options.length + 1
        atomic_write_json(folder / "vocabulary.json", {"characters": self.vocabulary, "unk": len(self.vocabulary)})
        atomic_write(folder / "test.txt", self.test_text)
        atomic_write(folder / "train_head.txt", self.train_text[:head])
        atomic_write_json(folder / "data_summary.json", self.data_summary())

    def restore(self, folder):
        folder = Path(folder)
        files = [folder / n for n in ("vocabulary.json", "test.txt", "train_head.txt", "data_summary.json")]
        if not all(f.is_file() for f in files):
            return False
        self.vocabulary = json.loads(files[0].read_text(encoding="utf-8"))["characters"]
        self.test_text = files[1].read_text(encoding="utf-8")
        self.train_text = files[2].read_text(encoding="utf-8")
        self._summary = json.loads(files[3].read_text(encoding="utf-8"))
        return True

    def data_summary(self):
        if getattr(self, "_summary", None):
            return dict(self._summary)
        return {"train_chars": len(self.train_text), "test_chars": len(self.test_text)}

    def char_ids(self, text: str, size: int) -> np.ndarray:
        if len(self.vocabulary) != size - 1:
            raise RecipeError(f"the run's character vocabulary has {len(self.vocabulary) + 1} ids, "
                              f"the model {size}")
        index = {c: i for i, c in enumerate(self.vocabulary)}
        return np.array([index.get(c, size - 1) for c in text], np.int32)

    def check_model(self, model):
        if model.input_vocab is None or model.readout != "sequence" or model.num_outputs != model.input_vocab:
            raise RecipeError("char_lm needs a model with input_vocab = num_outputs and "
                              "readout: sequence (e.g. lstm_char_lm)")

    def arrays(self, model, split, limit=None):
        """Non-overlapping windows of `length` inputs and their next-character targets."""
        self.check_model(model)
        T = self.options.length
        ids = self.char_ids(self.train_text if split == "train" else self.test_text, model.input_vocab)
        n = (len(ids) - 1) // T
        if n < 1:
            raise ZooDataError(f"text of {len(ids)} characters is shorter than one window of {T + 1}")
        if limit:
            n = min(n, limit)
        return ids[: n * T].reshape(n, T), ids[1: n * T + 1].reshape(n, T)

    def batch_sums(self, model, batch, *, step, training):
        import tensorflow as tf

        x, y = batch
        logits = tf.cast(model(x, training=training), tf.float32)   # float32 loss under mixed precision
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(y, tf.int32), logits=logits)
        return {"loss_sum": tf.reduce_sum(nll), "count": tf.cast(tf.size(y), tf.float32)}


@dataclass(frozen=True)
class DigitSeq2SeqOptions(GeneratedOptions):
    transform: Literal["reverse", "copy", "sort"] = "reverse"


@register_task("digit_seq2seq", smoke_recipe="recurrent/smoke_digit_seq2seq")
class DigitSeq2SeqTask(RecurrentTask):
    Options = DigitSeq2SeqOptions
    metrics = {"loss": Metric("loss_sum"), "error": Metric("errors"), "accuracy": Metric("correct", goal="max"),
               "sequence_accuracy": Metric("seq_correct", "sequences", goal="max")}

    def load_data(self):
        from zoo.data.synthetic import digit_transduction
        from zoo.models.recurrent.seq2seq import RESERVED

        o, seed = self.options, self.config.data.seed
        self.train = _teacher_forcing(*digit_transduction(o.train_examples, o.length, seed, o.transform, RESERVED))
        self.test = _teacher_forcing(*digit_transduction(o.test_examples, o.length, seed + 10_000,
                                                         o.transform, RESERVED))
        self._check_batches()

    def check_model(self, model):
        from zoo.models.recurrent.seq2seq import RESERVED

        if not getattr(model, "is_seq2seq", False) or min(model.input_vocab, model.num_outputs) < RESERVED + 10:
            raise RecipeError("task digit_seq2seq needs a Seq2SeqLSTM (e.g. seq2seq_lstm_digits) with "
                              f"input_vocab and num_outputs >= {RESERVED + 10} (GO, EOS, 10 digits)")

    def batch_sums(self, model, batch, *, step, training):
        import tensorflow as tf

        x, y = batch
        sums, right = _classification_sums(model(x, training=training), y)
        return {**sums, "seq_correct": tf.reduce_sum(tf.reduce_min(right, axis=1)),
                "sequences": tf.cast(tf.shape(y)[0], tf.float32)}

    def pretrain_inputs(self, batch):
        return batch[0][0]   # ((source, decoder inputs), targets): the encoder reads the source

    def greedy_accuracy(self, model, split: str, limit: int | None = None) -> float:
        """Share of sequences whose greedy decoding (no teacher forcing) is exactly the target
        followed by EOS: the task's real test."""
        import tensorflow as tf

        (source, _), target = self.arrays(model, split, limit)
        decode = tf.function(lambda s: model.generate(s, target.shape[1]))
        right = 0
        for lo in range(0, len(target), 256):
            got = decode(tf.constant(source[lo: lo + 256])).numpy()
            right += int(np.all(got == target[lo: lo + 256], axis=1).sum())
        return right / len(target)

    def final_metrics(self, model):
        limit = self.options.train_metric_examples
        return {**super().final_metrics(model),
                "train_greedy_sequence_accuracy": self.greedy_accuracy(model, "train", limit),
                "greedy_sequence_accuracy": self.greedy_accuracy(model, "test")}


def _classification_sums(logits, y):
    """(sums of NLL, errors and correct predictions over every label, the 0/1 correctness)."""
    import tensorflow as tf

    y = tf.cast(y, tf.int32)
    logits = tf.cast(logits, tf.float32)   # float32 loss whatever the model's compute dtype
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
    right = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y), tf.float32)
    return {"loss_sum": tf.reduce_sum(nll), "count": tf.cast(tf.size(y), tf.float32),
            "errors": tf.reduce_sum(1.0 - right), "correct": tf.reduce_sum(right)}, right


def _teacher_forcing(source, target):
    """((source, GO y_1..y_n), y_1..y_n EOS): teacher-forced decoder inputs and targets."""
    from zoo.models.recurrent.seq2seq import EOS, GO

    n = len(target)
    dec_in = np.concatenate([np.full((n, 1), GO, np.int32), target], axis=1)
    dec_out = np.concatenate([target, np.full((n, 1), EOS, np.int32)], axis=1)
    return (source, dec_in), dec_out

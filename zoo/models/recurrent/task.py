"""The recurrent family's Task: one class, the problem chosen by `data.options.task`.

    temporal_order  dissertation §3.4.1: classify the order of A/B (4 classes); accuracy, error
    adding          seed 004 §4.1: regress the sum of two marked values; error = share of
                    |prediction - target| > 0.04 (the paper's criterion), loss = mean squared error
    seq_mnist       seed 004 §4.2: 28 binarized rows of 28 pixels -> digit; error
    char_lm         dissertation §3.4.3: next-character prediction on a real corpus; reported in
                    BITS per character (`bits_per_char` = nats / ln 2), the loss stays in nats
    seq2seq         seed 004 §4.4 at small scale: digit-string transduction (`transform`: reverse,
                    copy or sort) with `Seq2SeqLSTM`; token error/accuracy and whole-sequence
                    accuracy under teacher forcing, plus greedy-decoding sequence accuracy

Options (all under `data.options`, defaults in brackets):
    task [temporal_order]; length: sequence length [15; adding 200; char_lm 100];
    train_examples / test_examples: generated set sizes [temporal order 6400 / 2000 — the
    dissertation's 200 batches of 32 for training; adding 10000 / 2000 — seed 004 used 100,000 /
    10,000, too slow for 2 CPU cores]; pretrain_epochs: greedy layer-wise pretraining epochs per
    layer, 0 = random initialisation [0]; pretrain_learning_rate [the trainer's];
    pretrain_max_steps [none]; transform [reverse] (seq2seq; length default 10, examples
    6400 / 1000); train_metric_examples: training examples scored for the final
    train accuracy/error [2000].
"""
from __future__ import annotations

import math

import numpy as np

from zoo.config import RecipeError
from zoo.data.errors import ZooDataError
from zoo.training.task import Task, register_task

TASKS = ("temporal_order", "adding", "seq_mnist", "char_lm", "seq2seq")
_OPTIONS = {"task", "length", "train_examples", "test_examples", "pretrain_epochs",
            "pretrain_learning_rate", "pretrain_max_steps", "train_metric_examples", "binarize", "transform"}
ADDING_TOLERANCE = 0.04


@register_task("recurrent")
class RecurrentTask(Task):
    def __init__(self, config):
        super().__init__(config)
        opts = dict(config.data.options or {})
        unknown = set(opts) - _OPTIONS
        if unknown:
            raise RecipeError(f"unknown data.options {sorted(unknown)} for the recurrent family; "
                              f"valid: {sorted(_OPTIONS)}")
        self.kind = opts.get("task", "temporal_order")
        if self.kind not in TASKS:
            raise RecipeError(f"data.options.task must be one of {TASKS}, got {self.kind!r}")
        self.opts = opts
        if self.kind == "char_lm":
            self.metrics = {"loss": ("loss_sum", "count"), "bits_per_char": ("bits_sum", "count")}
            self.objective = "bits_per_char"
        elif self.kind == "adding":
            self.metrics = {"loss": ("loss_sum", "count"), "error": ("errors", "count")}
            self.objective = "error"
        elif self.kind == "seq2seq":
            self.metrics = {"loss": ("loss_sum", "count"), "error": ("errors", "count"),
                            "accuracy": ("correct", "count"),
                            "sequence_accuracy": ("seq_correct", "sequences")}
            self.objective = "error"
        else:
            self.metrics = {"loss": ("loss_sum", "count"), "error": ("errors", "count"),
                            "accuracy": ("correct", "count")}
            self.objective = "error"

    # -- data --------------------------------------------------------------------------------
    def _opt(self, key, default):
        value = self.opts.get(key, default)
        if key in ("length", "train_examples", "test_examples") and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise RecipeError(f"data.options.{key} must be a positive integer, got {value!r}")
        return value

    def load_data(self):
        d = self.config.data
        seed = d.seed
        if self.kind == "temporal_order":
            T = self._opt("length", 15)
            self.train = _temporal(self._opt("train_examples", 6400), T, seed)
            self.test = _temporal(self._opt("test_examples", 2000), T, seed + 10_000)
        elif self.kind == "adding":
            from zoo.data.synthetic import adding_problem

            T = self._opt("length", 200)
            self.train = adding_problem(self._opt("train_examples", 10_000), T, seed)
            self.test = adding_problem(self._opt("test_examples", 2000), T, seed + 10_000)
        elif self.kind == "seq2seq":
            from zoo.data.synthetic import digit_transduction
            from zoo.models.recurrent.seq2seq import RESERVED

            T, how = self._opt("length", 10), self.opts.get("transform", "reverse")
            self.train = digit_transduction(self._opt("train_examples", 6400), T, seed, how, RESERVED)
            self.test = digit_transduction(self._opt("test_examples", 1000), T, seed + 10_000, how,
                                           RESERVED)
        elif self.kind == "seq_mnist":
            from zoo.data.synthetic import sequential_mnist, split_examples

            x, y = sequential_mnist(binarize=self.opts.get("binarize", True))
            tr, te = split_examples(len(y), d.test_fraction, seed)
            if d.max_paragraphs:
                tr = tr[: d.max_paragraphs]
            self.train, self.test = (x[tr], y[tr]), (x[te], y[te])
        else:
            self._load_text()
        if self.kind != "char_lm" and len(self.train[1]) < d.batch_size:
            raise ZooDataError(f"{len(self.train[1])} training examples are fewer than one batch "
                               f"of {d.batch_size}")

    def _load_text(self):
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
        self._vocab = {}

    def char_vocab(self, size: int) -> dict[str, int]:
        """The `size - 1` most frequent training characters (ties by code point); id size-1 = UNK."""
        if size not in self._vocab:
            counts: dict[str, int] = {}
            for ch in self.train_text:
                counts[ch] = counts.get(ch, 0) + 1
            chars = sorted(counts, key=lambda c: (-counts[c], c))[: size - 1]
            self._vocab[size] = {c: i for i, c in enumerate(chars)}
        return self._vocab[size]

    def char_ids(self, text: str, size: int) -> np.ndarray:
        vocab = self.char_vocab(size)
        return np.array([vocab.get(c, size - 1) for c in text], np.int32)

    def _windows(self, model, text):
        """Non-overlapping windows of `length` inputs and their next-character targets."""
        if model.input_vocab is None or model.readout != "sequence" or model.num_outputs != model.input_vocab:
            raise RecipeError("char_lm needs a model with input_vocab = num_outputs and "
                              "readout: sequence (e.g. lstm_char_lm)")
        T = self._opt("length", 100)
        ids = self.char_ids(text, model.input_vocab)
        n = (len(ids) - 1) // T
        if n < 1:
            raise ZooDataError(f"text of {len(ids)} characters is shorter than one window of {T + 1}")
        x = ids[: n * T].reshape(n, T)
        y = ids[1: n * T + 1].reshape(n, T)
        return x, y

    def _check_model(self, model):
        if self.kind == "seq2seq":
            from zoo.models.recurrent.seq2seq import RESERVED

            if not getattr(model, "is_seq2seq", False) or min(model.input_vocab,
                                                               model.num_outputs) < RESERVED + 10:
                raise RecipeError("task seq2seq needs a Seq2SeqLSTM (e.g. seq2seq_lstm_digits) with "
                                  f"input_vocab and num_outputs >= {RESERVED + 10} (GO, EOS, 10 digits)")
            return
        want = {"temporal_order": ("input_vocab", 4, 4), "seq_mnist": ("input_dim", 28, 10),
                "adding": ("input_dim", 2, 1)}.get(self.kind)
        if want is None:
            return
        attr, size, outputs = want
        if getattr(model, attr, None) != size or model.num_outputs != outputs or model.readout != "last":
            raise RecipeError(f"task {self.kind} needs a model with {attr}={size}, num_outputs="
                              f"{outputs}, readout=last; got input_dim={model.input_dim}, "
                              f"input_vocab={model.input_vocab}, num_outputs={model.num_outputs}, "
                              f"readout={model.readout}")

    def _arrays(self, model, split):
        self._check_model(model)
        if self.kind == "char_lm":
            return self._windows(model, self.train_text if split == "train" else self.test_text)
        if self.kind == "seq2seq":
            return _teacher_forcing(*(self.train if split == "train" else self.test))
        return self.train if split == "train" else self.test

    def data_summary(self):
        if self.kind == "char_lm":
            return {"train_chars": len(self.train_text), "test_chars": len(self.test_text)}
        return {"train_examples": int(len(self.train[1])), "test_examples": int(len(self.test[1]))}

    def train_dataset(self, model, pass_index):
        import tensorflow as tf

        x, y = self._arrays(model, "train")
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        ds = ds.shuffle(len(y), seed=self.config.data.seed + pass_index, reshuffle_each_iteration=False)
        # Full batches only: every step has one static shape (one trace, XLA-friendly).
        return ds.batch(self.config.data.batch_size, drop_remainder=True)

    def eval_dataset(self, model):
        import tensorflow as tf

        x, y = self._arrays(model, "test")
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(self.config.data.batch_size)

    # -- loss and metrics --------------------------------------------------------------------
    def batch_sums(self, model, batch, training):
        import tensorflow as tf

        x, y = batch
        out = model(x, training=training)
        if self.kind == "seq2seq":
            return _token_sums(out, y)
        if self.kind == "adding":
            pred = out[:, 0]
            diff = pred - y
            count = tf.cast(tf.shape(y)[0], tf.float32)
            return {"loss_sum": tf.reduce_sum(tf.square(diff)), "count": count,
                    "errors": tf.reduce_sum(tf.cast(tf.abs(diff) > ADDING_TOLERANCE, tf.float32))}
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(y, tf.int32), logits=out)
        count = tf.cast(tf.size(y), tf.float32)
        if self.kind == "char_lm":
            total = tf.reduce_sum(nll)
            return {"loss_sum": total, "count": count, "bits_sum": total / math.log(2.0)}
        right = tf.cast(tf.equal(tf.argmax(out, -1, output_type=tf.int32), tf.cast(y, tf.int32)), tf.float32)
        return {"loss_sum": tf.reduce_sum(nll), "count": count,
                "errors": tf.reduce_sum(1.0 - right), "correct": tf.reduce_sum(right)}

    # -- greedy layer-wise pretraining (seed 004) --------------------------------------------
    def stages(self, model):
        epochs = self.opts.get("pretrain_epochs", 0)
        if not isinstance(epochs, (int, float)) or isinstance(epochs, bool) or epochs < 0:
            raise RecipeError(f"data.options.pretrain_epochs must be a number >= 0, got {epochs!r}")
        if not epochs:
            return []
        if model.cell != "lstm":
            raise RecipeError("greedy layer-wise pretraining is defined for LSTM stacks (cell: lstm)")
        from zoo.models.recurrent.pretrain import greedy_stages

        # Seq2seq batches are ((source, decoder inputs), targets): pretraining reads the source.
        return greedy_stages(model, _source if self.kind == "seq2seq" else _model_input, epochs=epochs,
                             learning_rate=self.opts.get("pretrain_learning_rate"),
                             max_steps=self.opts.get("pretrain_max_steps"))

    # -- reporting ---------------------------------------------------------------------------
    def score(self, model, split: str, limit: int | None = None) -> dict:
        """The task's metrics on a split (inference mode), e.g. Table 3.1's train accuracy."""
        import tensorflow as tf

        x, y = self._arrays(model, split)
        if limit:
            x = tuple(a[:limit] for a in x) if isinstance(x, tuple) else x[:limit]
            y = y[:limit]
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(max(self.config.data.batch_size, 64))
        step = tf.function(lambda b: self.batch_sums(model, b, training=False))
        totals: dict[str, float] = {}
        for b in ds:
            for k, v in step(b).items():
                totals[k] = totals.get(k, 0.0) + float(v)
        result = {name: totals[n] / totals[d] for name, (n, d) in self.metrics.items() if totals.get(d)}
        if self.kind == "seq2seq":
            result["greedy_sequence_accuracy"] = self.greedy_accuracy(model, split, limit)
        return result

    def greedy_accuracy(self, model, split: str, limit: int | None = None) -> float:
        """Share of sequences whose greedy decoding (no teacher forcing) is exactly the target
        followed by EOS: the seq2seq task's real test."""
        import tensorflow as tf

        (source, _), target = self._arrays(model, split)
        if limit:
            source, target = source[:limit], target[:limit]
        steps = target.shape[1]
        decode = tf.function(lambda s: model.generate(s, steps))
        right = 0
        for lo in range(0, len(target), 256):
            got = decode(tf.constant(source[lo: lo + 256])).numpy()
            right += int(np.all(got == target[lo: lo + 256], axis=1).sum())
        return right / len(target)

    def final_metrics(self, model):
        limit = self.opts.get("train_metric_examples", 2000)
        train = self.score(model, "train", limit)
        extra = {}
        if self.kind == "seq2seq":
            extra["greedy_sequence_accuracy"] = self.greedy_accuracy(model, "test")
        return {**{f"train_{k}": v for k, v in train.items()}, **extra, **self.data_summary()}

    def evaluate(self, model, out_dir):
        from pathlib import Path

        from zoo.training.run import atomic_write_json

        result = {"task": self.kind, "test": self.score(model, "test"),
                  "train": self.score(model, "train", self.opts.get("train_metric_examples", 2000)),
                  **self.data_summary()}
        atomic_write_json(Path(out_dir) / "recurrent_metrics.json", result)
        return result


def _temporal(n, length, seed):
    from zoo.data.synthetic import temporal_order

    return temporal_order(n, length, seed)


def _model_input(batch):
    return batch[0]


def _source(batch):
    return batch[0][0]


def _teacher_forcing(source, target):
    """((source, GO y_1..y_n), y_1..y_n EOS): teacher-forced decoder inputs and targets."""
    from zoo.models.recurrent.seq2seq import EOS, GO

    n = len(target)
    dec_in = np.concatenate([np.full((n, 1), GO, np.int32), target], axis=1)
    dec_out = np.concatenate([target, np.full((n, 1), EOS, np.int32)], axis=1)
    return (source, dec_in), dec_out


def _token_sums(logits, y):
    """Per-token cross-entropy, token errors, and whole-sequence correctness of [B, T] targets."""
    import tensorflow as tf

    y = tf.cast(y, tf.int32)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
    right = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y), tf.float32)
    return {"loss_sum": tf.reduce_sum(nll), "count": tf.cast(tf.size(y), tf.float32),
            "errors": tf.reduce_sum(1.0 - right), "correct": tf.reduce_sum(right),
            "seq_correct": tf.reduce_sum(tf.reduce_min(right, axis=1)),
            "sequences": tf.cast(tf.shape(y)[0], tf.float32)}

"""The byte autoencoder task ("Byte-level Recursive Convolutional Auto-Encoder for Text", §3.2):
masked byte NLL, byte error, byte error per recursion depth, and the §4 analyses in `zoo eval`.

Only valid positions (the paragraph's bytes and its EOS null byte) enter the loss and every
metric; padding (-1) is invisible to both.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np

from zoo.config import PositiveInt, Range
from zoo.registry import register_task
from zoo.eval.metrics import Metric
from zoo.training.task import Task


@dataclass(frozen=True)
class ByteAutoencoderOptions:
    max_length: PositiveInt = 1024            # padded length limit (bytes + EOS), a power of two (§3.2: 1024)
    overflow: Literal["split", "reject"] = "split"  # an over-long paragraph: cut at a boundary, or an error
    bytes_per_batch: PositiveInt | None = None  # if set, per-bucket batch = bytes_per_batch // length
    divide_shared_gradients: bool = True  # §3.2: divide a shared recursion group's gradient by its uses
    mutation_steps: Annotated[int, Range(ge=2)] = 11          # `zoo eval`: mutation probabilities 0, 0.1, ..., 1 (§4.3)
    length_bin: PositiveInt = 64              # `zoo eval`: error by length in bins of this many bytes (§4.4)


_SPLITS = ("train.npz", "test.npz")


@register_task("byte_autoencoder", smoke_recipe="byte_rcae/smoke")
class ByteAutoencoderTask(Task):
    Options = ByteAutoencoderOptions
    metrics = {"loss": Metric("loss_sum", "count"), "byte_error": Metric("errors", "count")}
    objective = "byte_error"

    # -- data --------------------------------------------------------------------------------
    def load_data(self):
        from zoo.data import load_paragraphs, split_paragraphs
        from zoo.models.byte_rcae.data import fit_paragraphs

        d, o = self.config.data, self.options
        paragraphs = load_paragraphs(d.corpus, d.field)
        paragraphs = fit_paragraphs(paragraphs, o.max_length, o.overflow)
        train, test = split_paragraphs(paragraphs, d.test_fraction)
        if not test:
            # test_fraction 0 (or a tiny corpus that hashed entirely into train): measure on train.
            test = list(train)
        if d.max_paragraphs:
            train = train[: d.max_paragraphs]
        if d.max_test_paragraphs:
            test = test[: d.max_test_paragraphs]
        self.train_paragraphs, self.test_paragraphs = train, test

    def save_artifacts(self, folder):
        # The splits themselves: `zoo eval` and its train-split analyses need no corpus.
        from zoo.io import write_records

        for name, paragraphs in zip(_SPLITS, (self.train_paragraphs, self.test_paragraphs)):
            write_records(Path(folder) / name, paragraphs)

    def restore(self, folder):
        from zoo.io import read_records

        paths = [Path(folder) / name for name in _SPLITS]
        if not all(p.is_file() for p in paths):
            return False
        self.train_paragraphs, self.test_paragraphs = (read_records(p) for p in paths)
        return True

    def data_summary(self):
        return {"train_paragraphs": len(self.train_paragraphs),
                "test_paragraphs": len(self.test_paragraphs),
                "train_bytes": sum(map(len, self.train_paragraphs))}

    def check_model(self, model):
        # Paragraphs are cut to task.max_length; longer than the model reads, they cannot be fed.
        from zoo.config import RecipeError

        limit, readable = self.options.max_length, getattr(model, "max_length", None)
        if readable is not None and limit > readable:
            raise RecipeError(f"task.max_length ({limit}) exceeds the model's max_length ({readable}): "
                              f"raise model.max_length to {limit} or lower task.max_length to {readable}")

    def _dataset(self, model, paragraphs, shuffle, seed, drop_remainder=False):
        import tensorflow as tf

        from zoo.models.byte_rcae.data import make_dataset

        d, o = self.config.data, self.options
        ds = make_dataset(paragraphs, d.batch_size, shuffle=shuffle, seed=seed,
                          max_length=min(o.max_length, model.max_length),
                          bytes_per_batch=o.bytes_per_batch, drop_remainder=drop_remainder)
        if model.fixed_length:  # the static model reads every paragraph at its one length
            L = model.fixed_length
            ds = ds.map(lambda x: tf.pad(x, [[0, 0], [0, L - tf.shape(x)[1]]], constant_values=-1))
        return ds

    def train_dataset(self, model, pass_index):
        # Full batches only: one traced step per bucket length (see make_dataset).
        return self._dataset(model, self.train_paragraphs, True, self.config.data.seed + pass_index,
                             drop_remainder=True)

    def eval_dataset(self, model):
        return self._dataset(model, self.test_paragraphs, False, 0)

    # -- loss and metrics --------------------------------------------------------------------
    def batch_sums(self, model, batch, *, step, training):
        import tensorflow as tf

        # Losses and metrics in float32 whatever the model's compute dtype (mixed precision).
        logits = tf.cast(model(batch, training=training), tf.float32)
        labels = tf.maximum(batch, 0)
        mask = tf.cast(batch >= 0, tf.float32)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        wrong = tf.cast(tf.not_equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32)
        return {"loss_sum": tf.reduce_sum(nll * mask), "count": tf.reduce_sum(mask),
                "errors": tf.reduce_sum(wrong * mask)}

    def batch_group(self, batch):
        length = int(batch.shape[1])
        return f"depth_{int(np.log2(max(length, 4) // 4))}"

    def gradient_scales(self, model, batch):
        if not self.options.divide_shared_gradients or not hasattr(model, "shared_group_uses"):
            return {}
        scales = {}
        for variables, uses in model.shared_group_uses(int(batch.shape[1])):
            for v in variables:
                if uses > 1:
                    scales[id(v)] = 1.0 / uses
        return scales

    # -- reporting ---------------------------------------------------------------------------
    def write_samples(self, model, step):
        import tensorflow as tf

        from zoo.models.byte_rcae.data import decode_bytes, encode_batch, to_text

        k = self.config.trainer.text_samples
        if not k:
            return
        samples = sorted(self.test_paragraphs[:200], key=len)[:: max(1, min(200, len(self.test_paragraphs)) // k)][:k]
        rows = []
        for p in samples:
            ids = encode_batch([p], length=model.fixed_length)
            pred = np.argmax(model(ids, training=False), -1)[0]
            rows.append(f"| {_md(to_text(p))} | {_md(to_text(decode_bytes(pred)))} |")
        tf.summary.text("reconstructions", "| input | reconstruction |\n|---|---|\n" + "\n".join(rows))

    def final_metrics(self, model):
        from zoo.models.byte_rcae.data import unigram_error

        return {"unigram_baseline_error": unigram_error(self.train_paragraphs, self.test_paragraphs),
                **self.data_summary()}

    def analyze(self, model, out_dir):
        from zoo.models.byte_rcae.analysis import evaluate_byte_autoencoder

        o = self.options
        return evaluate_byte_autoencoder(model, self.train_paragraphs, self.test_paragraphs, out_dir,
                                         samples=self.config.eval.samples,
                                         mutation_steps=o.mutation_steps, length_bin=o.length_bin)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:300]

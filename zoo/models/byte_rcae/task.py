"""Training task of the byte autoencoders: masked byte NLL, byte error, per-depth error (seed 000 §3.2).

Only valid positions (the paragraph's bytes and its EOS null byte) enter the loss and every
metric; padding (-1) is invisible to both.
"""
from __future__ import annotations

import numpy as np

from zoo.training.task import Task, register_task


@register_task("byte_autoencoder")
class ByteAutoencoderTask(Task):
    metrics = {"loss": ("loss_sum", "count"), "byte_error": ("errors", "count")}
    objective = "byte_error"

    def load_data(self):
        from zoo.data import fit_paragraphs, load_paragraphs, split_paragraphs

        d = self.config.data
        paragraphs = load_paragraphs(d.corpus, d.field)
        paragraphs = fit_paragraphs(paragraphs, d.max_length, d.overflow)
        train, test = split_paragraphs(paragraphs, d.test_fraction)
        if not test:
            # test_fraction 0 (or a tiny corpus that hashed entirely into train): measure on train.
            test = list(train)
        if d.max_paragraphs:
            train = train[: d.max_paragraphs]
        if d.max_test_paragraphs:
            test = test[: d.max_test_paragraphs]
        self.train_paragraphs, self.test_paragraphs = train, test

    def data_summary(self):
        return {"train_paragraphs": len(self.train_paragraphs),
                "test_paragraphs": len(self.test_paragraphs),
                "train_bytes": sum(map(len, self.train_paragraphs))}

    def _dataset(self, model, paragraphs, shuffle, seed, drop_remainder=False):
        import tensorflow as tf

        from zoo.data import make_dataset

        d = self.config.data
        ds = make_dataset(paragraphs, d.batch_size, shuffle=shuffle, seed=seed,
                          max_length=min(d.max_length, model.max_length),
                          bytes_per_batch=d.bytes_per_batch, drop_remainder=drop_remainder)
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

    def batch_sums(self, model, batch, training):
        import tensorflow as tf

        logits = model(batch, training=training)
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
        if not self.config.trainer.divide_shared_gradients or not hasattr(model, "shared_group_uses"):
            return {}
        scales = {}
        for variables, uses in model.shared_group_uses(int(batch.shape[1])):
            for v in variables:
                if uses > 1:
                    scales[id(v)] = 1.0 / uses
        return scales

    def write_samples(self, model, step):
        import tensorflow as tf

        from zoo.data import decode_bytes, encode_batch, to_text

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
        from zoo.data import unigram_error

        return {"unigram_baseline_error": unigram_error(self.train_paragraphs, self.test_paragraphs),
                **self.data_summary()}


    def evaluate(self, model, out_dir):
        from zoo.eval.byte_autoencoder import evaluate_byte_autoencoder

        return evaluate_byte_autoencoder(model, self.train_paragraphs, self.test_paragraphs,
                                         self.config.eval, out_dir)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:300]

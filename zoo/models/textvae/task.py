"""The text VAE task (Semeniuta's dissertation §5.3, §5.5; "A Hybrid Convolutional Variational
Autoencoder for Text Generation", 2017): fixed-length byte windows, the loss of Eq. 5.3.3

    J = w(step) * KL(q(z|x) || p(z)) - E_q[log p(x|z)] + alpha * J_aux

with the reconstruction summed over the window's positions and averaged over the batch (one
posterior sample per example), and the metrics that show posterior collapse: the KL term, the
active units (Burda et al. 2016, "Importance Weighted Autoencoders", §5.2: units whose posterior
mean varies across inputs, Cov_x(E_q[z_u]) > 0.01) and the mutual information between x and z
(He et al. 2019, "Lagging Inference Networks and Posterior Collapse in Variational
Autoencoders", §4: E_x[KL(q(z|x)||p(z))] - KL(q(z)||p(z)), q(z) the aggregate posterior of the
evaluated windows). Bits per character is the bound: (reconstruction + KL) / bytes, with the KL
at full weight whatever the annealing.

KL annealing (§5.3.4; the authors' code): w = kl_weight * max(floor, clip((step - start) /
(end - start), 0, 1)), linear from `kl_start` to `kl_end` with a floor (code: 1,000 -> 8,000,
floor 0.001 with the auxiliary loss; 10,000 -> 17,000 without), or `none` (w = kl_weight).
`kl_weight: 0` trains the reconstruction alone (§5.5's historyless experiment).

Evaluation uses one posterior sample per window whose noise is a hash of the window
(`model.content_noise`): the bound is then reproducible and identical on any number of replicas.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from zoo.config import NonNegativeFloat, NonNegativeInt, PositiveInt, Probability
from zoo.data.errors import ZooDataError
from zoo.eval.metrics import Metric, SplitMetric, nats_to_bits
from zoo.registry import register_task
from zoo.training.task import Phase, Task, Update

_TEST_FILE = "test_windows.npz"


@dataclass(frozen=True)
class TextVAEOptions:
    length: PositiveInt = 64              # window in bytes (the model's `length`)
    min_length: PositiveInt | None = None  # windows keep [min_length, length] bytes (None: all)
    train_windows: PositiveInt = 64000    # windows per pass, at fresh random positions each pass
    test_windows: PositiveInt = 2000      # fixed windows of the test split
    alpha: NonNegativeFloat = 0.2         # weight of the auxiliary reconstruction J_aux (Eq. 5.3.3)
    kl_annealing: Literal["linear", "none"] = "linear"
    kl_start: NonNegativeInt = 1000       # step where the linear ramp starts ...
    kl_end: NonNegativeInt = 8000         # ... and reaches kl_weight
    kl_floor: Probability = 0.001         # the smallest weight of the ramp (code: 0.001)
    kl_weight: NonNegativeFloat = 1.0     # the weight the ramp reaches (0: reconstruction only)
    active_threshold: NonNegativeFloat = 0.01  # Burda et al.: Cov_x(mu_u) above this is active
    mi_windows: PositiveInt = 1000        # windows of the aggregate posterior in the MI estimate
    overflow: Literal["reject", "split"] = "reject"  # the export's reconstruct of a text longer than
                                          # the window: an error, or window-sized pieces joined

    def __post_init__(self):
        if self.min_length is not None and self.min_length > self.length:
            raise ValueError(f"task.min_length ({self.min_length}) exceeds task.length ({self.length})")
        if self.kl_annealing == "linear" and self.kl_end <= self.kl_start:
            raise ValueError(f"task.kl_end ({self.kl_end}) must come after task.kl_start "
                             f"({self.kl_start}) for linear KL annealing (or set task.kl_annealing: none)")


def kl_weight(step, options: TextVAEOptions):
    """The KL term's weight at `step` (a number or a tensor; see the module docstring)."""
    import tensorflow as tf

    o = options
    if o.kl_annealing == "none":
        return tf.constant(o.kl_weight, tf.float32)
    ramp = (tf.cast(step, tf.float32) - o.kl_start) / float(o.kl_end - o.kl_start)
    return o.kl_weight * tf.maximum(o.kl_floor, tf.clip_by_value(ramp, 0.0, 1.0))


class ActiveUnits(SplitMetric):
    """Latent units whose posterior mean varies across the evaluated inputs: Cov_x(mu_u) above a
    threshold (Burda et al. 2016, §5.2: 0.01). Sums in float64, so batching does not matter."""

    def __init__(self, threshold: float = 0.01):
        super().__init__(("mu",), goal="max")
        object.__setattr__(self, "threshold", threshold)

    def start(self):
        return (0, 0.0, 0.0)

    def add(self, state, outputs):
        mu = np.asarray(outputs["mu"], np.float64)
        n, s, ss = state
        return n + len(mu), s + mu.sum(0), ss + (mu ** 2).sum(0)

    def result(self, state):
        n, s, ss = state
        if n < 2:
            return None
        var = (ss - s ** 2 / n) / (n - 1)
        return float(np.sum(var > self.threshold))


def mutual_information(mu, logvar, z) -> float:
    """He et al. (2019) §4's estimate of I(x; z) under q(z|x) p_data(x): the mean over windows of
    -H(q(z|x)) minus the mean of log q(z_i), q(z) = (1/N) sum_n q(z|x_n) at one sample z_i of
    each window's posterior."""
    mu, logvar, z = (np.asarray(a, np.float64) for a in (mu, logvar, z))
    n, d = mu.shape
    neg_entropy = np.mean(-0.5 * d * np.log(2 * np.pi) - 0.5 * np.sum(1.0 + logvar, axis=1))
    inv_var = np.exp(-logvar)
    log_q = np.empty(n)
    for i in range(0, n, 256):   # [chunk, N] log densities of each z_i under every posterior
        diff = z[i:i + 256, None, :] - mu[None]
        dens = -0.5 * (np.sum(diff ** 2 * inv_var[None], -1) + np.sum(logvar, -1)[None] + d * np.log(2 * np.pi))
        top = dens.max(1, keepdims=True)
        log_q[i:i + 256] = (top[:, 0] + np.log(np.exp(dens - top).sum(1))) - np.log(n)
    return float(neg_entropy - np.mean(log_q))


class MutualInformation(SplitMetric):
    """`mutual_information` over the first `limit` evaluated windows (O(N^2) in them)."""

    def __init__(self, limit: int = 1000):
        super().__init__(("mu", "logvar", "z"), goal="max")
        object.__setattr__(self, "limit", limit)

    def start(self):
        return {"mu": [], "logvar": [], "z": [], "n": 0}

    def add(self, state, outputs):
        room = self.limit - state["n"]
        if room > 0:
            for k in ("mu", "logvar", "z"):
                state[k].append(np.asarray(outputs[k])[:room])
            state["n"] += len(state["mu"][-1])
        return state

    def result(self, state):
        if state["n"] < 2:
            return None
        return mutual_information(*(np.concatenate(state[k]) for k in ("mu", "logvar", "z")))


@register_task("text_vae", smoke_recipe="textvae/smoke")
class TextVAETask(Task):
    """Fixed-length byte windows auto-encoded by a text VAE; see the module docstring."""

    Options = TextVAEOptions
    objective = "bits_per_char"
    metrics = {
        "loss": Metric("loss_sum"),
        "reconstruction": Metric("rec_sum"),
        "kl": Metric("kl_sum"),
        "aux_loss": Metric("aux_sum"),
        "kl_weight": Metric("kl_weight_sum"),
        "bits_per_char": Metric("bound_sum", "chars", transform=nats_to_bits),
        "char_error": Metric("errors", "chars"),
        "active_units": ActiveUnits(),
        "mutual_information": MutualInformation(),
    }

    def __init__(self, config):
        super().__init__(config)
        # The split metrics read this task's thresholds (class attributes are the defaults).
        self.metrics = {**type(self).metrics, "active_units": ActiveUnits(self.options.active_threshold),
                        "mutual_information": MutualInformation(self.options.mi_windows)}

    # -- data ------------------------------------------------------------------------------------
    def load_data(self):
        from zoo.data import train_test_documents
        from zoo.models.textvae.data import byte_stream, random_windows

        d, o = self.config.data, self.options
        train, test = train_test_documents(d)
        self.train_stream = byte_stream(train)
        self.test_ids = random_windows(byte_stream(test), o.test_windows, o.length,
                                       np.random.default_rng([d.seed, 1]), o.min_length)
        random_windows(self.train_stream, 1, o.length, np.random.default_rng(0))   # long enough?

    def save_artifacts(self, folder):
        import io

        from zoo.io import atomic_write

        buffer = io.BytesIO()
        np.savez_compressed(buffer, ids=self.test_ids)
        atomic_write(Path(folder) / _TEST_FILE, buffer.getvalue())

    def restore(self, folder):
        path = Path(folder) / _TEST_FILE
        if not path.is_file():
            return False
        with np.load(path) as f:
            self.test_ids = f["ids"]
        self.train_stream = None
        return True

    def data_summary(self):
        return {"train_bytes": 0 if self.train_stream is None else int(len(self.train_stream)),
                "test_windows": int(len(self.test_ids))}

    def model_arguments(self):
        return {"length": int(self.options.length)}

    def train_dataset(self, model, pass_index):
        import tensorflow as tf

        from zoo.models.textvae.data import random_windows

        if self.train_stream is None:
            raise ZooDataError("this task was restored from an export's artifacts, which hold the "
                               "test windows only; train from the corpus")
        d, o = self.config.data, self.options
        ids = random_windows(self.train_stream, o.train_windows, o.length,
                             np.random.default_rng([d.seed, 2, pass_index]), o.min_length)
        return tf.data.Dataset.from_tensor_slices(ids).batch(d.batch_size, drop_remainder=True).prefetch(2)

    def eval_dataset(self, model):
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices(self.test_ids).batch(self.config.data.batch_size)

    # -- loss and metrics ------------------------------------------------------------------------
    def _outputs(self, model, batch, step, training):
        import tensorflow as tf

        from zoo.models.textvae.model import kl_to_prior

        ids = tf.convert_to_tensor(batch, tf.int32)
        out = model.forward(ids, training=training)
        f32 = {k: tf.cast(v, tf.float32) for k, v in out.items()}
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ids, logits=f32["logits"])
        rec = tf.reduce_sum(nll, axis=1)
        kl = kl_to_prior(f32["mu"], f32["logvar"])
        aux = (tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ids, logits=f32["aux"]), 1)
               if "aux" in f32 else tf.zeros_like(rec))
        w = kl_weight(step, self.options)
        n = tf.cast(tf.shape(ids)[0], tf.float32)
        wrong = tf.cast(tf.not_equal(tf.argmax(f32["logits"], -1, output_type=tf.int32), ids), tf.float32)
        sums = {"loss_sum": tf.reduce_sum(rec + w * kl + self.options.alpha * aux), "count": n,
                "rec_sum": tf.reduce_sum(rec), "kl_sum": tf.reduce_sum(kl), "aux_sum": tf.reduce_sum(aux),
                "kl_weight_sum": w * n, "bound_sum": tf.reduce_sum(rec + kl),
                "chars": n * float(ids.shape[1]), "errors": tf.reduce_sum(wrong)}
        return sums, f32

    def batch_sums(self, model, batch, *, step, training):
        return self._outputs(model, batch, step, training)[0]

    def eval_sums(self, model, batch, *, step):
        sums, out = self._outputs(model, batch, step, False)
        return {**sums, "mu": out["mu"], "logvar": out["logvar"], "z": out["z"]}

    def phases(self, model):
        # Batch norm's moving statistics change in a training step too (not by the optimizer):
        # they are this update's, so every other variable stays as it was.
        def variables():
            return list(model.trainable_variables) + list(model.non_trainable_weights)

        return [Phase("train", (Update("model", self.batch_sums, variables),))]

    # -- reporting -------------------------------------------------------------------------------
    def samples(self, model, count: int, seed: int = 0) -> dict[str, list[str]]:
        """Texts greedily decoded from `count` prior samples, and (input, reconstruction) pairs of
        the first `count` test windows decoded from their posterior means."""
        import tensorflow as tf

        from zoo.models.textvae.data import decode_ids, to_text

        z = tf.random.stateless_normal([count, model.latent_dim], seed=[seed, 0])
        prior = [to_text(decode_ids(r)) for r in model.generate(z).numpy()]
        ids = self.test_ids[:count]
        mu, _ = model.encode(ids, training=False)
        rec = model.generate(mu).numpy()
        return {"prior": prior, "inputs": [to_text(decode_ids(r)) for r in ids],
                "reconstructions": [to_text(decode_ids(r)) for r in rec]}

    def write_samples(self, model, step):
        import tensorflow as tf

        k = self.config.trainer.text_samples
        if not k:
            return
        s = self.samples(model, k)
        tf.summary.text("samples", "\n\n".join(f"    {_md(t)}" for t in s["prior"]))
        rows = [f"| {_md(a)} | {_md(b)} |" for a, b in zip(s["inputs"], s["reconstructions"])]
        tf.summary.text("reconstructions", "| input | reconstruction (from the posterior mean) |\n|---|---|\n"
                        + "\n".join(rows))

    def final_metrics(self, model):
        from zoo.models.textvae.data import unigram_baselines

        out = self.data_summary()
        if self.train_stream is not None:   # the trivial baselines of the report's gate
            out.update(unigram_baselines(self.train_stream, self.test_ids, self.options.length,
                                         self.options.min_length))
        return out

    def analyze(self, model, out_dir):
        """`zoo eval`: prior samples and reconstructions (samples.json) and the generation metrics
        of §5.6.1 on the prior samples, over characters (each byte's character a token): distinct
        4-grams, leave-one-out self-BLEU-4 and BLEU-4 against the test windows."""
        from zoo.eval.textgen import TextgenInputError, bleu, distinct_ngrams, self_bleu
        from zoo.io import atomic_write_json
        from zoo.models.textvae.data import decode_ids, to_text

        s = self.samples(model, max(2, min(self.config.eval.samples, 64)))
        atomic_write_json(Path(out_dir) / "samples.json", s)
        samples = [list(t) for t in s["prior"]]
        references = [list(to_text(decode_ids(r))) for r in self.test_ids[:500]]
        out = {}
        try:
            out["sample_distinct_4grams"] = distinct_ngrams(samples, 4).ratio
            out["sample_self_bleu4"] = self_bleu(samples, smoothing="add_epsilon").value
            out["sample_bleu4"] = bleu(samples, references, smoothing="add_epsilon").value
        except TextgenInputError:
            pass   # samples too short or too few for an n-gram order: no value rather than NaN
        return out


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")

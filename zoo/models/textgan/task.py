"""The text-GAN task (S. Semeniuta, "Recurrent Neural Networks for Discriminative and Generative
Learning", dissertation, 2019, §5.4 and §5.6.4): real sentences against generated ones, every
model of `model.py` trained through the one trainer as phases of updates.

Data: the topic sentences of `zoo.data.sentences` (the Wikipedia extract in gensim's wheel, or
the Lee news corpus; the same sentences and held-out split as the metric study of §5.6.3),
SentencePiece pieces fitted on the training sentences (`vocab_size`, 4k as the dissertation's
SNLI set-up), each sentence its pieces then <eos>, padded with <eos> to `max_length`. A sentence
longer than `max_length - 1` pieces is left out (the dissertation's SNLI sentences are short;
the data summary gives how many were cut). The held-out sentences are the evaluation split and
the reference set of the sample metrics.

Phases (`phases`):
- `pretrain` (`pretrain_steps`, 0: none; every generator with a next-token distribution: the
  discrete ones, and the Conv-LSTM teacher-forced from the state of a fresh noise per row):
  maximum likelihood of the generator's weights (§5.6.4 (vi): "training of every GAN model
  that achieves reasonable results includes pretraining step"). A discrete GAN without it is
  refused unless `allow_unpretrained` says the study wants it.
- the main phase, `train` (the MLE LM) or `adversarial`:
  * SeqGAN / LeakGAN (§5.4.2): `discriminator_steps` discriminator updates (sigmoid cross-entropy,
    real sentences against fresh samples; per step for per-step discriminators), then one
    generator update by REINFORCE on its own samples, J_g = -sum_t (R_t - b_t) log p(y_t | y_<t):
    SeqGAN-reinforce R_t = D(y) for every t; SeqGAN-step and the LeakGANs R_t = gamma R_{t+1} +
    D(y_1:t); SeqGAN-rollout R_t = the mean of D over `rollouts` Monte-Carlo completions of y_1:t by a
    delayed copy of the generator (`zoo.training.hooks.MovingAverage`, v' <- u v' + (1 - u) v with
    u = `rollout_update_rate`, 0.8 in the SeqGAN code, starting as a copy of the pretrained
    generator: an assign phase after pretraining), R_T = D(y). D is the discriminator's
    probability of "real". The baseline b_t (`baseline: true`, the stated variance reduction) is
    the batch mean of R_t at position t.
  * WGAN-GP (§5.4.1, Eq. 5.4.1): `discriminator_steps` critic updates on D(fake) - D(real) +
    lambda (||grad D(x_hat)|| - 1)^2, x_hat between a one-hot real row and a softmax fake one, then
    one generator update on -D(G(z)). Adam(1e-4, beta_1 0.5, beta_2 0.9) and 10 critic steps in the
    reference code (recipes/textgan/).
Random numbers inside the steps are stateless, from the recipe's seed, the step, the update's
salt, the batch's content and the replica: a run resumed after a kill draws what it would have.

Metrics, only those the method has: in training, per update (TensorBoard `<metric>/<update>`):
the loss, the discriminator's accuracy on real and on fake rows (a per-step discriminator's
decision at each row's first <eos>), the critic's Wasserstein estimate and gradient penalty, the
rewards' mean and spread; the pretraining's negative log-likelihood. Evaluated on the held-out
sentences: the generator's negative log-likelihood per token (the loss) and perplexity (models
with an explicit p(y_t | y_<t)), and over one sample per held-out sentence (drawn at
`sample_temperature` with a seed from the batch's content, so an evaluation is reproducible):
the discriminator's accuracies, the rewards (SeqGAN-rollout's from the rollout network), the
critic's estimate and penalty, BLEU-4 against the held-out sentences, leave-one-out
self-BLEU-4, unique 4-grams (all over whitespace words, §5.6.1) and, with `encoder` (a
sentence-encoder export), the Fréchet distance (Eq. 5.6.1), then the run's objective (tuning by
it: `tune.objective: fd`); without an encoder the objective is the held-out loss (Conv-Deconv's:
-W).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from zoo.config import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Probability, RecipeError
from zoo.data.errors import ZooDataError
from zoo.eval.metrics import Metric, SplitMetric, perplexity
from zoo.registry import register_task
from zoo.training.task import Phase, Task, Update

_ARTIFACTS = "textgan_data.json"
_PRIME = 2 ** 31 - 1


@dataclass(frozen=True)
class TextGANOptions:
    corpus: Literal["wiki", "lee"] = "wiki"
    vocab_size: PositiveInt = 4000           # SentencePiece pieces, <eos> and <unk> included
    max_length: PositiveInt = 32             # tokens per row with the <eos>; longer sentences left out
    max_train_sentences: PositiveInt | None = None
    max_test_sentences: PositiveInt | None = None
    pretrain_steps: NonNegativeInt = 1000    # the generator's maximum-likelihood phase (0: none)
    pretrain_learning_rate: PositiveFloat = 0.001
    allow_unpretrained: bool = False         # a discrete GAN without pretraining (refused otherwise)
    pretrained_generator: str | None = None  # a finished textgan_lm run (same data and sizes) whose
                                             # weights start the generator instead of the pretrain phase
    generator_learning_rate: PositiveFloat = 1e-4
    generator_beta_1: Probability = 0.5
    generator_beta_2: Probability = 0.9
    discriminator_learning_rate: PositiveFloat = 1e-4
    discriminator_beta_1: Probability = 0.5
    discriminator_beta_2: Probability = 0.9
    discriminator_steps: PositiveInt = 1     # discriminator (critic) updates per generator update
    gp_lambda: NonNegativeFloat = 10.0       # WGAN-GP's gradient-penalty weight
    gamma: Probability = 0.9                 # discount of the per-step rewards
    rollouts: PositiveInt = 16               # SeqGAN-rollout's completions per prefix
    generator_batch_size: PositiveInt | None = None  # samples per generator update (None: data.batch_size)
    rollout_update_rate: Probability = 0.8   # the delayed generator: v' <- u v' + (1 - u) v
    baseline: bool = True                    # subtract the batch mean reward per position
    sample_temperature: PositiveFloat = 1.0  # the evaluation's samples
    encoder: str | None = None               # a sentence-encoder export for the Fréchet distance
    text_sample_count: PositiveInt = 8       # TensorBoard samples per evaluation

    def __post_init__(self):
        if self.max_length < 2:
            raise ValueError(f"task.max_length must be at least 2 (a token and its <eos>), got {self.max_length}")
        if self.rollout_update_rate >= 1.0:
            raise ValueError("task.rollout_update_rate must be below 1 (at 1 the rollout network never moves)")


def gradient_penalty(critic, real, fake, eps):
    """WGAN-GP's penalty per row (Gulrajani et al. 2017, Eq. 3; Eq. 5.4.1): (||grad D(x_hat)||_2
    - 1)^2 at x_hat = eps real + (1 - eps) fake, the norm over the row's whole [L, V] input.
    real, fake: [B, L, V] (one-hot rows, G's softmax rows); eps: [B]."""
    import tensorflow as tf

    eps = tf.reshape(tf.cast(eps, real.dtype), [-1, 1, 1])
    mixed = eps * real + (1.0 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        score = critic(mixed)
    grad = tape.gradient(score, mixed)
    norm = tf.sqrt(tf.reduce_sum(tf.square(tf.cast(grad, tf.float32)), axis=[1, 2]) + 1e-12)
    return tf.square(norm - 1.0)


def batch_hash(ids):
    """int64 hash of a batch of rows (the evaluation's sampling seed: reproducible)."""
    import tensorflow as tf

    length = ids.shape[1]
    weights = np.array([pow(48271, t + 1, _PRIME) for t in range(length)], np.int64)
    rows = tf.math.floormod(tf.reduce_sum((tf.cast(ids, tf.int64) + 2) * weights, axis=1), _PRIME)
    return tf.math.floormod(tf.reduce_sum(rows * np.int64(69621)), _PRIME)


@dataclass(frozen=True, eq=False)
class SampleMetric(SplitMetric):
    """A metric of the evaluation's generated rows (`fake`), decoded to text by the task at the
    end (`TextGANTask.sample_metrics`); `part` names which of them."""
    part: str = "bleu4"
    task: Any = None

    def start(self):
        return []

    def add(self, state, outputs):
        state.append(np.asarray(outputs["fake"]))
        return state

    def result(self, state):
        if not state or self.task is None:
            return None
        return self.task.sample_metrics(np.concatenate(state)).get(self.part)


def _copy(sources, targets) -> None:
    for v, t in zip(sources, targets):
        t.assign(v.numpy() if hasattr(v, "numpy") else v)


def _sample_metric(part: str, goal: str) -> SampleMetric:
    return SampleMetric(("fake",), part=part, goal=goal)


@register_task("text_gan", smoke_recipe="textgan/smoke")
class TextGANTask(Task):
    """Real sentences against generated ones; see the module docstring."""

    Options = TextGANOptions
    # The held-out loss (the NLL per token; Conv-Deconv's -W); FD with a sentence encoder (below).
    objective = "loss"
    metrics = {
        "loss": Metric("loss_sum"),
        "nll": Metric("nll_sum", "tokens"),
        "perplexity": Metric("nll_sum", "tokens", transform=perplexity),
        "d_real_accuracy": Metric("d_real_correct", "d_real_count", goal="max"),
        "d_fake_accuracy": Metric("d_fake_correct", "d_fake_count", goal="max"),
        "wasserstein": Metric("w_sum", "w_count"),
        "gradient_penalty": Metric("gp_sum", "w_count"),
        "reward": Metric("reward_sum", "reward_count", goal="max"),
        "reward_std": Metric("reward_dev_sum", "reward_count", transform=lambda v: math.sqrt(max(v, 0.0))),
        "bleu4": _sample_metric("bleu4", "max"),
        "self_bleu4": _sample_metric("self_bleu4", "min"),
        "unique_4grams": _sample_metric("unique_4grams", "max"),
        "fd": _sample_metric("fd", "min"),
    }

    def __init__(self, config):
        super().__init__(config)
        from zoo.models.textgan.model import METHODS

        self.method = self._model_args().get("method")
        if self.method not in METHODS:
            raise RecipeError(f"task text_gan trains the textgan family's models; model {config.model.name!r} "
                              f"is not one of them")
        self.metrics = {k: (SampleMetric(m.inputs, part=m.part, task=self, goal=m.goal)
                            if isinstance(m, SampleMetric) else m) for k, m in type(self).metrics.items()}
        # Only what this method measures, in training and in evaluation alike.
        generator, _, discriminator = METHODS[self.method]
        drop = set()
        if discriminator != "critic":
            drop |= {"wasserstein", "gradient_penalty"}
        if discriminator in (None, "critic"):
            drop |= {"d_real_accuracy", "d_fake_accuracy", "reward", "reward_std"}
        if generator == "deconv":
            drop |= {"nll", "perplexity"}
        if self.options.encoder is None:
            drop.add("fd")   # FD needs a sentence encoder
        else:
            self.objective = "fd"   # the study's criterion (§5.6.4); its goal ("min") is the loss's
        for name in drop:
            self.metrics.pop(name)
        self._sample_cache: tuple[bytes, dict] | None = None
        self._rollout = None   # SeqGAN-rollout's delayed generator, once `phases` made it
        self._encoder = None
        self._reference_embeddings = None
        self.cut = 0
        self._check_options()

    def _model_args(self) -> dict:
        from zoo.registry import resolved_model_args

        return resolved_model_args(self.config.model)

    def _check_options(self):
        from zoo.models.textgan.model import DISCRETE

        o = self.options
        if (self.method in DISCRETE and self.method != "mle" and o.pretrain_steps == 0
                and o.pretrained_generator is None and not o.allow_unpretrained):
            raise RecipeError(f"{self.method} needs a generator pretrained by maximum likelihood (§5.6.4: "
                              f"without it the discrete GANs barely leave random text): set "
                              f"task.pretrain_steps > 0, or task.allow_unpretrained: true to study it without")
        if o.pretrained_generator is not None:
            if self.method == "mle" or self.method.startswith(("leakgan", "wgan")):
                raise RecipeError(f"task.pretrained_generator starts a SeqGAN generator (the LM's one-layer LSTM "
                                  f"and linear head) from a finished textgan_lm run; {self.method}'s generator "
                                  f"is not that one")
            if o.pretrain_steps:
                raise RecipeError("task.pretrained_generator replaces the pretrain phase: set task.pretrain_steps: 0")
        if self.method == "wgan_conv_deconv" and o.pretrain_steps:
            raise RecipeError("wgan_conv_deconv has no next-token distribution to pretrain by maximum "
                              "likelihood: set task.pretrain_steps: 0")

    @property
    def pretrains(self) -> bool:
        return self.method != "mle" and self.options.pretrain_steps > 0

    def load_pretrained_generator(self, model) -> None:
        """Copy the generator's weights from the finished textgan_lm run `pretrained_generator`
        (its tokenizer must be this task's: the same pieces under the same ids)."""
        import json

        import keras

        from zoo.runs import KERAS_FILE

        run = Path(self.options.pretrained_generator)
        data = run / "artifacts" / _ARTIFACTS
        if not (run / KERAS_FILE).is_file() or not data.is_file():
            raise RecipeError(f"task.pretrained_generator {str(run)!r} is not a finished textgan run folder "
                              f"(it needs {KERAS_FILE} and artifacts/{_ARTIFACTS})")
        theirs = json.loads(data.read_text(encoding="utf-8"))["tokenizer"]
        if theirs != self.tokenizer.to_json():
            raise RecipeError(f"task.pretrained_generator {str(run)!r} was trained with another tokenizer "
                              f"(other corpus, vocab_size or sentences): its ids mean other pieces here")
        source = keras.models.load_model(run / KERAS_FILE)
        mine = {v.name: v for v in model.generator_weights()}
        given = {v.name: v for v in getattr(source, "generator_weights", lambda: [])()}
        if set(mine) != set(given) or any(tuple(mine[k].shape) != tuple(given[k].shape) for k in mine):
            raise RecipeError(f"task.pretrained_generator {str(run)!r} holds a generator of another shape "
                              f"({getattr(source, 'method', type(source).__name__)}); it needs the same "
                              f"embedding_dim and units")
        for k, v in mine.items():
            v.assign(given[k].numpy())

    # -- data ------------------------------------------------------------------------------------
    def load_data(self):
        from zoo.data.sentences import topic_sentences
        from zoo.data.tokenizers import fit_tokenizer

        o = self.options
        train = [s.text for s in topic_sentences(o.corpus, "train")]
        test = [s.text for s in topic_sentences(o.corpus, "test")]
        try:
            self.tokenizer = fit_tokenizer("sentencepiece", train, o.vocab_size)
        except ValueError as e:
            raise RecipeError(f"task.vocab_size {o.vocab_size}: {e}") from None
        self.train_ids, self.train_texts, cut_train = self._rows(train, o.max_train_sentences)
        self.test_ids, self.test_texts, cut_test = self._rows(test, o.max_test_sentences)
        self.cut = cut_train + cut_test
        if len(self.test_ids) < 2:
            raise ZooDataError(f"only {len(self.test_ids)} held-out sentences fit in task.max_length "
                               f"{o.max_length}; raise it")

    def _rows(self, texts, cap):
        L = self.options.max_length
        rows, kept, cut = [], [], 0
        for t in texts:
            ids = self.tokenizer.encode_array(t)
            if len(ids) > L - 1:
                cut += 1
                continue
            rows.append(np.pad(ids, (0, L - len(ids))))
            kept.append(t)
            if cap is not None and len(rows) >= cap:
                break
        if not rows:
            raise ZooDataError(f"no sentence of corpus {self.options.corpus!r} fits in task.max_length "
                               f"{L} tokens; raise it")
        return np.stack(rows).astype(np.int32), kept, cut

    def save_artifacts(self, folder):
        from zoo.io import atomic_write_json

        atomic_write_json(Path(folder) / _ARTIFACTS, {"tokenizer": self.tokenizer.to_json(),
                                                       "test_ids": self.test_ids.tolist(),
                                                       "test_texts": self.test_texts})

    def restore(self, folder):
        import json

        from zoo.data.tokenizers import Tokenizer

        path = Path(folder) / _ARTIFACTS
        if not path.is_file():
            return False
        d = json.loads(path.read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_json(d["tokenizer"])
        self.test_ids = np.asarray(d["test_ids"], np.int32)
        self.test_texts = list(d["test_texts"])
        self.train_ids = None
        return True

    def data_summary(self):
        return {"train_sentences": 0 if self.train_ids is None else int(len(self.train_ids)),
                "test_sentences": int(len(self.test_ids)), "sentences_over_max_length": int(self.cut),
                "vocab_size": int(self.tokenizer.vocab_size)}

    def model_arguments(self):
        return {"vocab_size": int(self.tokenizer.vocab_size), "max_length": int(self.options.max_length)}

    def train_dataset(self, model, pass_index):
        import tensorflow as tf

        if self.train_ids is None:
            raise ZooDataError("this task was restored from an export's artifacts, which hold the "
                               "held-out sentences only; train from the corpus")
        d = self.config.data
        order = np.random.default_rng([d.seed, pass_index]).permutation(len(self.train_ids))
        return (tf.data.Dataset.from_tensor_slices(self.train_ids[order])
                .batch(d.batch_size, drop_remainder=True).prefetch(2))

    def eval_dataset(self, model):
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices(self.test_ids).batch(self.config.data.batch_size)

    def distributed_eval(self, model) -> bool:
        return False   # the samples' seed is a hash of the whole evaluation batch

    # -- randomness ------------------------------------------------------------------------------
    def _seed(self, step, salt: int, batch=None):
        """A stateless seed [2] from the recipe's seed, the step, `salt`, the batch and the replica."""
        import tensorflow as tf

        ctx = tf.distribute.get_replica_context()
        replica = tf.cast(ctx.replica_id_in_sync_group, tf.int64) if ctx is not None else tf.constant(0, tf.int64)
        s = tf.cast(step, tf.int64) * 1009 + salt
        if batch is not None:
            s = s + batch_hash(batch) * 7919
        return tf.stack([tf.constant(int(self.config.trainer.seed), tf.int64), s * 64 + replica])

    def _per_replica(self):
        import tensorflow as tf

        ctx = tf.distribute.get_replica_context()
        n = ctx.num_replicas_in_sync if ctx is not None else 1
        return max(1, (self.options.generator_batch_size or self.config.data.batch_size) // n)

    # -- losses ----------------------------------------------------------------------------------
    def mle_sums(self, model, batch, *, step, training):
        import tensorflow as tf

        ids = tf.convert_to_tensor(batch, tf.int32)
        noise = None
        if model.generator_kind == "soft_lstm":   # a fresh start state per row (see teacher_logits)
            noise = tf.random.stateless_normal([tf.shape(ids)[0], model.noise_dim], seed=self._seed(step, 5, ids))
        logp, tokens = model.log_likelihood(ids, noise=noise)
        nll = -tf.reduce_sum(logp)
        return {"loss_sum": nll, "count": tf.reduce_sum(tokens), "nll_sum": nll, "tokens": tf.reduce_sum(tokens)}

    def _fake(self, model, batch_size, seed):
        import tensorflow as tf

        ids, logp = model.sample(batch_size, seed)
        return tf.stop_gradient(ids), logp

    @staticmethod
    def _row_logits(model, ids):
        """The discriminator's logit of "real" for each whole row [B]: a per-step discriminator's
        at the row's last scored step (its first <eos>), as the losses mask it."""
        import tensorflow as tf

        from zoo.models.textgan.model import eos_mask

        d = model.discriminate(ids)
        if d.shape.rank == 1:
            return d
        last = tf.cast(tf.reduce_sum(eos_mask(ids), 1) - 1, tf.int32)
        return tf.gather(d, last, batch_dims=1)

    def _accuracy_sums(self, model, real, fake):
        import tensorflow as tf

        count = tf.cast(tf.shape(real)[0], tf.float32)
        d_real, d_fake = self._row_logits(model, real), self._row_logits(model, fake)
        return {"d_real_correct": tf.reduce_sum(tf.cast(d_real > 0, tf.float32)), "d_real_count": count,
                "d_fake_correct": tf.reduce_sum(tf.cast(d_fake < 0, tf.float32)), "d_fake_count": count}

    def discriminator_sums(self, model, batch, *, step, training):
        import tensorflow as tf

        from zoo.models.textgan.model import eos_mask

        real = tf.convert_to_tensor(batch, tf.int32)
        n = tf.shape(real)[0]
        fake, _ = self._fake(model, n, self._seed(step, 1, real))
        d_real, d_fake = model.discriminate(real), model.discriminate(fake)
        bce = tf.nn.sigmoid_cross_entropy_with_logits
        if model.discriminator_kind == "step":
            # Every prefix up to the first <eos> is a decision (§5.4.2), each row's averaged.
            m_real, m_fake = eos_mask(real), eos_mask(fake)
            loss = (tf.reduce_sum(bce(tf.ones_like(d_real), d_real) * m_real, 1) / tf.reduce_sum(m_real, 1)
                    + tf.reduce_sum(bce(tf.zeros_like(d_fake), d_fake) * m_fake, 1) / tf.reduce_sum(m_fake, 1))
        else:
            loss = bce(tf.ones_like(d_real), d_real) + bce(tf.zeros_like(d_fake), d_fake)
        return {"loss_sum": tf.reduce_sum(loss), "count": tf.cast(n, tf.float32),
                **self._accuracy_sums(model, real, fake)}

    def rewards(self, model, fake, seed, rollout_weights=None):
        """Rewards R [B, L] of generated rows (see the module docstring), 0 after each row's
        first <eos>, no gradient. `seed`: the rollouts' (SeqGAN-rollout); `rollout_weights`:
        the delayed generator's weights (None: the generator's own)."""
        import tensorflow as tf

        from zoo.models.textgan.model import eos_mask

        o = self.options
        fake = tf.convert_to_tensor(fake, tf.int32)
        mask = eos_mask(fake)
        L = model.max_length
        if model.discriminator_kind == "step":
            d = tf.sigmoid(model.discriminate(fake)) * mask
            # R_t = gamma R_{t+1} + D(y_1:t), right to left.
            r, out = tf.zeros_like(d[:, 0]), []
            for t in reversed(range(L)):
                r = o.gamma * r + d[:, t]
                out.append(r)
            rewards = tf.stack(out[::-1], axis=1)
        elif self.method == "seqgan_rollout":
            n, k = tf.shape(fake)[0], o.rollouts
            # Rows: every prefix length 1..L-1 of every sample, `rollouts` times each.
            prefix = tf.repeat(fake, (L - 1) * k, axis=0)
            lengths = tf.tile(tf.repeat(tf.range(1, L), k), [n])
            done, _ = model.sample(n * (L - 1) * k, seed, weights=rollout_weights, prefix=prefix,
                                   prefix_length=lengths)
            scores = tf.reshape(tf.sigmoid(model.discriminate(done)), [n, L - 1, k])
            full = tf.sigmoid(model.discriminate(fake))
            rewards = tf.concat([tf.reduce_mean(scores, -1), full[:, None]], axis=1)
        else:
            rewards = tf.repeat(tf.sigmoid(model.discriminate(fake))[:, None], L, axis=1)
        return tf.stop_gradient(rewards * mask)

    @staticmethod
    def _reward_sums(rewards, mask):
        import tensorflow as tf

        scored = tf.reduce_sum(mask)
        mean = tf.reduce_sum(rewards) / tf.maximum(scored, 1.0)
        return {"reward_sum": tf.reduce_sum(rewards), "reward_count": scored,
                "reward_dev_sum": tf.reduce_sum(tf.square(rewards - mean) * mask)}

    def generator_sums(self, model, batch, *, step, training, rollout=None):
        import tensorflow as tf

        from zoo.models.textgan.model import eos_mask

        n = self._per_replica()
        count = tf.cast(n, tf.float32)
        if model.discriminator_kind == "critic":
            fake = model.soft_generate(tf.random.stateless_normal([n, model.noise_dim], seed=self._seed(step, 2)))
            return {"loss_sum": -tf.reduce_sum(model.critic(fake)), "count": count}
        fake, _ = self._fake(model, n, self._seed(step, 2))
        mask = eos_mask(fake)
        logits = tf.cast(model.teacher_logits(fake), tf.float32)
        logp = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels=fake, logits=logits)
        rewards = self.rewards(model, fake, self._seed(step, 3), None if rollout is None else rollout.average)
        centred = rewards
        if self.options.baseline:
            mean = tf.reduce_sum(rewards, 0) / tf.maximum(tf.reduce_sum(mask, 0), 1.0)
            centred = (rewards - mean[None]) * mask
        # REINFORCE: J_g = -sum_t (R_t - b_t) log p(y_t | y_<t) over the scored positions.
        return {"loss_sum": -tf.reduce_sum(tf.stop_gradient(centred) * logp * mask), "count": count,
                **self._reward_sums(rewards, mask)}

    def critic_terms(self, model, real_ids, seed):
        """Per row: the Wasserstein estimate D(real) - D(fake) and the gradient penalty
        (||grad D(x_hat)||_2 - 1)^2 of Eq. 5.4.1 (Gulrajani et al. 2017, Algorithm 1), x_hat =
        eps real + (1 - eps) fake between the one-hot real row and G's softmax rows from noise,
        eps ~ U[0, 1] per row; noise and eps from `seed` (int [2])."""
        import tensorflow as tf

        n = tf.shape(real_ids)[0]
        real = tf.one_hot(real_ids, model.vocab_size)
        noise_seed, eps_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        fake = model.soft_generate(tf.random.stateless_normal([n, model.noise_dim], seed=noise_seed))
        eps = tf.random.stateless_uniform([n], seed=eps_seed)
        return model.critic(real) - model.critic(fake), gradient_penalty(model.critic, real, fake, eps)

    def critic_sums(self, model, batch, *, step, training):
        import tensorflow as tf

        real_ids = tf.convert_to_tensor(batch, tf.int32)
        w, gp = self.critic_terms(model, real_ids, self._seed(step, 1, real_ids))
        count = tf.cast(tf.shape(real_ids)[0], tf.float32)
        # The critic minimises D(fake) - D(real) + lambda GP (Eq. 5.4.1).
        return {"loss_sum": tf.reduce_sum(-w + self.options.gp_lambda * gp), "count": count,
                "w_sum": tf.reduce_sum(w), "gp_sum": tf.reduce_sum(gp), "w_count": count}

    def batch_sums(self, model, batch, *, step, training):
        return self.mle_sums(model, batch, step=step, training=training)

    def phases(self, model):
        from zoo.training.hooks import MovingAverage

        o = self.options
        gen, disc = model.generator_weights, model.discriminator_weights
        adam = lambda lr, b1, b2: {"optimizer": "adam", "learning_rate": lr,   # noqa: E731
                                   "optimizer_args": {"beta_1": b1, "beta_2": b2}}
        if self.method == "mle":
            return [Phase("train", (Update("generator", self.mle_sums, gen),))]
        rollout = None
        phases = []
        if o.pretrained_generator is not None:
            phases.append(Phase("pretrain", (), assign=lambda: self.load_pretrained_generator(model)))
        elif self.pretrains:
            phases.append(Phase("pretrain", (Update("generator", self.mle_sums, gen,
                                                    optimizer={"optimizer": "adam",
                                                               "learning_rate": o.pretrain_learning_rate,
                                                               "optimizer_args": {}}),),
                                # The trainer caps a phase at `max_steps` only when the phase sets
                                # its epochs: as many as steps makes the cap the bound.
                                epochs=float(o.pretrain_steps), max_steps=o.pretrain_steps))
        d_opt = adam(o.discriminator_learning_rate, o.discriminator_beta_1, o.discriminator_beta_2)
        g_opt = adam(o.generator_learning_rate, o.generator_beta_1, o.generator_beta_2)
        if self.method == "seqgan_rollout":
            # The delayed generator starts as a copy of the generator the adversarial phase starts
            # from (SeqGAN, Algorithm 1: "Initialize ... beta <- theta"), not of its initial draw.
            rollout = MovingAverage(gen(), o.rollout_update_rate, name="rollout_generator")
            phases.append(Phase("rollout_network", (), assign=lambda: _copy(gen(), rollout.average),
                                carried={"rollout_generator": rollout}))
        if model.discriminator_kind == "critic":
            updates = (Update("critic", self.critic_sums, disc, optimizer=d_opt, repeat=o.discriminator_steps),
                       Update("generator", self.generator_sums, gen, optimizer=g_opt, stream=None))
        else:
            modules, after, sums = {}, None, self.generator_sums
            if rollout is not None:
                modules, after = {"rollout_generator": rollout}, rollout.update
                self._rollout = rollout   # the evaluation's rewards use it too

                def sums(model, batch, *, step, training, _r=rollout):
                    return self.generator_sums(model, batch, step=step, training=training, rollout=_r)
            updates = (Update("discriminator", self.discriminator_sums, disc, optimizer=d_opt,
                              repeat=o.discriminator_steps),
                       Update("generator", sums, gen, optimizer=g_opt, stream=None, modules=modules, after=after))
        phases.append(Phase("adversarial", updates))
        return phases

    # -- evaluation ------------------------------------------------------------------------------
    def eval_sums(self, model, batch, *, step):
        import tensorflow as tf

        from zoo.models.textgan.model import eos_mask

        ids = tf.convert_to_tensor(batch, tf.int32)
        n = tf.shape(ids)[0]
        rows = tf.cast(n, tf.float32)
        seed = tf.stack([tf.constant(int(self.config.trainer.seed), tf.int64), batch_hash(ids)])
        fake, _ = model.sample(n, seed, temperature=self.options.sample_temperature)
        out = {"count": rows, "fake": fake}
        if model.explicit:
            logp, tokens = model.log_likelihood(ids)
            nll, tokens = -tf.reduce_sum(logp), tf.reduce_sum(tokens)
            # The loss per token, as the maximum-likelihood updates count it.
            out.update(nll_sum=nll, tokens=tokens, loss_sum=nll, count=tokens)
        if model.discriminator_kind in ("sequence", "step"):
            out.update(self._accuracy_sums(model, ids, fake))
            rewards = self.rewards(model, fake, seed + tf.constant([0, 3], tf.int64),
                                   None if self._rollout is None else self._rollout.average)
            out.update(self._reward_sums(rewards, eos_mask(fake)))
        if model.discriminator_kind == "critic":
            w, gp = self.critic_terms(model, ids, seed)
            out.update(w_sum=tf.reduce_sum(w), gp_sum=tf.reduce_sum(gp), w_count=rows)
            if not model.explicit:
                out["loss_sum"] = -tf.reduce_sum(w)
        return out

    def decode_rows(self, rows) -> list[str]:
        return [self.tokenizer.decode(r) for r in np.asarray(rows)]

    def encoder(self):
        """The sentence-encoder export client of `task.encoder` (any family's `TextEncoder`)."""
        if self._encoder is None:
            from zoo.export import TextEncoder, open_export

            path = self.options.encoder
            if not Path(path).is_dir():
                raise RecipeError(f"task.encoder {path!r} is not an export folder (train and export a sentence "
                                  f"encoder, e.g. recipes/textgen/study_infersent.yaml)")
            client = open_export(path)
            if not isinstance(client, TextEncoder):
                raise RecipeError(f"task.encoder {path!r} is a {type(client).__name__} export, which cannot "
                                  f"encode sentences")
            self._encoder = client
            self._reference_embeddings = np.asarray(client.encode(list(self.test_texts)), np.float64)
        return self._encoder

    def sample_metrics(self, rows) -> dict[str, float]:
        """BLEU-4, self-BLEU-4, unique 4-grams and (with an encoder) FD of generated rows against the
        held-out sentences; cached for the rows of one evaluation."""
        from zoo.eval import textgen as tm

        key = np.asarray(rows).tobytes()
        if self._sample_cache is not None and self._sample_cache[0] == key:
            return self._sample_cache[1]
        texts = self.decode_rows(rows)
        words = [tm.tokenize_words(t) for t in texts]
        refs = [tm.tokenize_words(t) for t in self.test_texts]
        out: dict[str, float] = {}
        try:
            out["bleu4"] = tm.bleu(words, refs, max_n=4).value
        except tm.TextgenInputError:
            pass
        if len(words) >= 2:
            try:
                out["self_bleu4"] = tm.self_bleu(words, max_n=4).value
            except tm.TextgenInputError:
                pass
        out["unique_4grams"] = float(tm.distinct_ngrams(words, 4).unique)
        if self.options.encoder is not None:
            enc = self.encoder()
            x = np.asarray(enc.encode(texts), np.float64)
            y = self._reference_embeddings
            if min(len(x), len(y)) > x.shape[1]:
                out["fd"] = tm.frechet_distance(x, y).value
            else:
                out["fd"] = tm.frechet_distance(x, y, shrinkage="ledoit_wolf").value
        self._sample_cache = (key, out)
        return out

    # -- reporting -------------------------------------------------------------------------------
    def samples(self, model, count: int, seed: int = 0, temperature: float | None = None) -> list[str]:
        import tensorflow as tf

        t = self.options.sample_temperature if temperature is None else temperature
        ids, _ = model.sample(count, tf.constant([seed, 1], tf.int64), temperature=t)
        return self.decode_rows(ids.numpy())

    def write_samples(self, model, step):
        import tensorflow as tf

        k = self.config.trainer.text_samples
        if not k:
            return
        texts = self.samples(model, max(k, self.options.text_sample_count))
        tf.summary.text("samples", "\n\n".join(f"    {t}" for t in texts))

    def final_metrics(self, model):
        return self.data_summary()

    def analyze(self, model, out_dir):
        """`zoo eval`: 1,000 samples (samples.txt) and their metrics against the held-out sentences."""
        from zoo.io import atomic_write

        import tensorflow as tf

        ids, _ = model.sample(1000, tf.constant([int(self.config.trainer.seed), 1], tf.int64),
                              temperature=self.options.sample_temperature)
        texts = self.decode_rows(ids.numpy())
        atomic_write(Path(out_dir) / "samples.txt", ("\n".join(texts) + "\n").encode("utf-8"))
        return {f"samples_{k}": v for k, v in self.sample_metrics(ids.numpy()).items()}

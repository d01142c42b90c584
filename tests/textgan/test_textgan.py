"""The text GANs (Semeniuta's dissertation §5.4): every update of every method moves its own
weights only (LeakGAN's generator updates leave the discriminator it reads alone, §5.4.2), in
float32 and in both mixed policies; the REINFORCE rewards (SeqGAN-reinforce, -step, -rollout and
the LeakGANs), the rollout network's moving average, WGAN-GP's gradient penalty (Eq. 5.4.1) and
the continuous generators' end-to-end gradient; bad input as one line; the export reloaded
without the zoo; the smoke run's TensorBoard scalars and samples.
Default tier: tiny models (the registered smoke sizes) without data, and the session's smoke run."""
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.config import load_recipe
from zoo.export import ExportError, TextGenerator, open_export
from zoo.models.textgan.model import EOS, METHODS, example_ids, pad_after_eos
from zoo.models.textgan.task import gradient_penalty
from zoo.registry import create_model, create_task, model_entry

SMOKE = "textgan/smoke"
NAMES = ["textgan_lm" if m == "mle" else m for m in METHODS]
STEP_REWARDS = ("seqgan_step", "leakgan_leak", "leakgan_noleak", "leakgan_mixed")


def _setup(name, *overrides, **model_args):
    """The smoke recipe's task (no data loaded) for model `name` at its registered smoke size."""
    if name == "wgan_conv_deconv":
        overrides = ("task.pretrain_steps=0", *overrides)
    config = load_recipe(SMOKE, list(overrides))
    config = load_recipe({**config.to_dict(), "model": {"name": name, **model_entry(name).smoke, "seed": 3,
                                                         **model_args}})
    task = create_task(config)
    model = create_model(name, build=True, **config.model.kwargs())
    return task, model


def _batch(model, rows=4, seed=0):
    return tf.constant(example_ids(model, rows, np.random.default_rng(seed)))


def _values(variables):
    return [np.array(v.numpy()) for v in variables]


def _apply(update, model, batch, step=0):
    """One application of `update` as the trainer's replica step makes it (one replica): its
    sums under a tape, the gradient of loss / count on its variables, an Adam step, its hook."""
    variables = update.variables()
    with tf.GradientTape() as tape:
        sums = update.sums(model, None if update.stream is None else batch, step=tf.constant(step, tf.int64),
                           training=True)
        loss = sums[update.loss] / tf.maximum(sums[update.count], 1.0)
    grads = tape.gradient(loss, variables)
    keras.optimizers.Adam(0.01).apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
    if update.after is not None:
        update.after(model, step=tf.constant(step, tf.int64))
    return sums, float(loss)


# -- 2: each update moves its own weights, and only them -----------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_each_update_of_each_phase_moves_its_own_weights_only(name):
    task, model = _setup(name)
    phases = task.phases(model)
    want = {"textgan_lm": [("train", ["generator"])],
            "wgan_conv_deconv": [("adversarial", ["critic", "generator"])],
            "wgan_conv_lstm": [("pretrain", ["generator"]), ("adversarial", ["critic", "generator"])],
            # The rollout network is copied from the pretrained generator by a phase of its own.
            "seqgan_rollout": [("pretrain", ["generator"]), ("rollout_network", []),
                               ("adversarial", ["discriminator", "generator"])]}
    assert [(p.name, [u.name for u in p.updates]) for p in phases] == want.get(
        name, [("pretrain", ["generator"]), ("adversarial", ["discriminator", "generator"])])
    gen, disc = {id(v) for v in model.generator_weights()}, {id(v) for v in model.discriminator_weights()}
    assert gen and not gen & disc and gen | disc == {id(v) for v in model.trainable_weights}
    modules = [w for p in phases for u in p.updates for m in u.modules.values() for w in m.variables]
    everything = list(model.weights) + list({id(w): w for w in modules}.values())
    batch = _batch(model)
    for phase in phases:
        for update in phase.updates:
            where = f"{name}/{phase.name}/{update.name}"
            own = {id(v) for v in update.variables()}
            assert own == (disc if update.name in ("critic", "discriminator") else gen), where
            own |= {id(w) for m in update.modules.values() for w in m.variables}
            others = [v for v in everything if id(v) not in own]
            before, start = _values(others), _values(update.variables())
            _, loss = _apply(update, model, batch)
            assert np.isfinite(loss), (where, loss)
            for v, b in zip(others, before):
                np.testing.assert_array_equal(v.numpy(), b, err_msg=f"{v.name} moved in {where}")
            unchanged = [v.name for v, s in zip(update.variables(), start) if np.array_equal(v.numpy(), s)]
            assert not unchanged, f"{where} left {unchanged} unchanged"


@pytest.mark.parametrize("name", ["leakgan_leak", "leakgan_mixed"])
def test_leakgan_s_generator_reads_the_discriminator_but_never_trains_it(name):
    """§5.4.2 (Figure 5.4): the next-token distribution is an MLP over D's state, so the
    generator's loss depends on D's weights, yet only the discriminator's updates change them."""
    task, model = _setup(name)
    update = task.phases(model)[-1].updates[1]
    disc = model.discriminator_weights()
    with tf.GradientTape() as tape:
        sums = update.sums(model, None, step=tf.constant(0, tf.int64), training=True)
    grads = tape.gradient(sums["loss_sum"], disc)
    assert any(g is not None and np.any(np.asarray(tf.convert_to_tensor(g)) != 0) for g in grads)
    before = _values(disc)
    _apply(update, model, None)
    for v, b in zip(disc, before):
        np.testing.assert_array_equal(v.numpy(), b, err_msg=v.name)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_every_method_steps_under_a_mixed_policy(policy):
    """The one model class trains in the core mixed-precision sweep as SeqGAN-rollout; here every
    other method's updates (critics, per-step discriminators, LeakGAN's leak) take a step too:
    float32 variables and sums, a finite loss."""
    try:
        keras.config.set_dtype_policy(policy)
        for name in NAMES:
            task, model = _setup(name)
            assert model.compute_dtype == policy.split("_")[1]
            batch = _batch(model)
            for update in task.phases(model)[-1].updates:
                sums, loss = _apply(update, model, batch)
                assert {k: v.dtype for k, v in sums.items()} == {k: tf.float32 for k in sums}, (name, update.name)
                assert np.isfinite(loss), (name, update.name, loss)
            assert {v.dtype for v in model.weights} == {"float32"}
    finally:
        keras.config.set_dtype_policy("float32")


def test_each_method_declares_the_metrics_it_measures_and_fd_is_the_objective_with_an_encoder():
    common = {"loss", "bleu4", "self_bleu4", "unique_4grams"}
    adversarial = {"d_real_accuracy", "d_fake_accuracy", "reward", "reward_std"}
    want = {"textgan_lm": common | {"nll", "perplexity"},
            "seqgan_rollout": common | {"nll", "perplexity"} | adversarial,
            "leakgan_leak": common | {"nll", "perplexity"} | adversarial,
            "wgan_conv_lstm": common | {"nll", "perplexity", "wasserstein", "gradient_penalty"},
            "wgan_conv_deconv": common | {"wasserstein", "gradient_penalty"}}
    for name, metrics in want.items():
        task = _setup(name)[0]
        assert set(task.metrics) == metrics and task.objective == "loss", name
    task = _setup("seqgan_step", "task.encoder=exports/encoder")[0]   # opened when FD is first computed
    assert "fd" in task.metrics and task.objective == "fd" and task.goal("fd") == task.goal() == "min"


# -- 3: rewards --------------------------------------------------------------------------------
def _rows(model):
    """Generated-looking rows: ends at several places, one row without <eos>."""
    rng = np.random.default_rng(7)
    ids = rng.integers(2, model.vocab_size, size=(5, model.max_length)).astype(np.int32)
    for row, end in zip(ids, (0, 2, 5, model.max_length - 1)):
        row[end] = EOS
    return pad_after_eos(tf.constant(ids)).numpy()


def _first_eos_mask(ids):
    out = np.ones(ids.shape, np.float32)
    for i, row in enumerate(ids):
        ends = np.flatnonzero(row == EOS)
        if len(ends):
            out[i, ends[0] + 1:] = 0.0
    return out


@pytest.mark.parametrize("name", STEP_REWARDS)
def test_per_step_rewards_are_discounted_sums_of_d_up_to_the_first_eos(name):
    task, model = _setup(name, "task.gamma=0.7")
    fake = _rows(model)
    got = task.rewards(model, fake, tf.constant([1, 2], tf.int64)).numpy()
    d = 1.0 / (1.0 + np.exp(-model.discriminate(fake).numpy().astype(np.float64)))   # D(y_1:t), column t - 1
    mask = _first_eos_mask(fake)
    want = np.zeros_like(d)
    for t in reversed(range(model.max_length)):
        want[:, t] = d[:, t] * mask[:, t] + (0.7 * want[:, t + 1] if t + 1 < model.max_length else 0.0)
    np.testing.assert_allclose(got, want * mask, rtol=1e-5, atol=1e-6)
    assert got[0, 1:].tolist() == [0.0] * (model.max_length - 1) and np.all(got[4] > 0)


def test_seqgan_reinforce_rewards_every_token_with_the_whole_row_s_d():
    task, model = _setup("seqgan_reinforce")
    fake = _rows(model)
    got = task.rewards(model, fake, tf.constant([1, 2], tf.int64)).numpy()
    d = tf.sigmoid(model.discriminate(fake)).numpy()
    np.testing.assert_allclose(got, d[:, None] * _first_eos_mask(fake), rtol=1e-6)


def _forced(model, token):
    """Generator weights whose every draw is `token` (the head's bias for it dominates)."""
    weights = []
    for v in model.generator_weights():
        w = v.numpy().copy()
        if v.name == "g_head_kernel":
            w[:] = 0.0
        if v.name == "g_head_bias":
            w[:] = -50.0
            w[token] = 50.0
        weights.append(tf.constant(w))
    return weights


def test_seqgan_rollout_rewards_score_completions_of_each_prefix_by_the_rollout_network():
    """R_t (t < T) is D's mean over `rollouts` completions of y_1:t by the rollout network, R_T =
    D(y): with a rollout network that always ends the sentence, R_t = D(y_1:t <eos>); with one
    that always says token 5, R_t = D(y_1:t 5 5 ...)."""
    task, model = _setup("seqgan_rollout", "task.rollouts=3")
    fake = _rows(model)
    L = model.max_length
    d = lambda rows: tf.sigmoid(model.discriminate(tf.constant(rows))).numpy()  # noqa: E731
    for token in (EOS, 5):
        got = task.rewards(model, fake, tf.constant([4, 2], tf.int64), _forced(model, token)).numpy()
        want = np.zeros(fake.shape)
        for t in range(1, L):
            completed = fake.copy()
            completed[:, t:] = token
            completed[:, L - 1] = EOS   # a sampled row always ends by its last position
            want[:, t - 1] = d(pad_after_eos(tf.constant(completed)).numpy())
        want[:, L - 1] = d(fake)
        np.testing.assert_allclose(got, want * _first_eos_mask(fake), rtol=1e-5, atol=1e-6)


def test_sample_keeps_the_prefix_and_pads_after_the_first_eos():
    model = _setup("seqgan_rollout")[1]
    rng = np.random.default_rng(3)
    prefix = rng.integers(2, model.vocab_size, size=(6, model.max_length)).astype(np.int32)
    prefix[5, 2] = EOS   # a prefix that already ended: the row stays ended
    lengths = np.array([0, 1, 3, 5, model.max_length, 4], np.int32)
    ids, logp = model.sample(6, tf.constant([5, 6], tf.int64), prefix=tf.constant(prefix),
                             prefix_length=tf.constant(lengths))
    ids = ids.numpy()
    for row, p, n in zip(ids, prefix, np.minimum(lengths, model.max_length - 1)):
        np.testing.assert_array_equal(row[:n], pad_after_eos(tf.constant(p[None]))[0, :n].numpy())
    assert ids[5, 2:].tolist() == [0] * (model.max_length - 2)
    assert not ids[:, -1].any()   # even a full-length prefix ends at the row's last position
    np.testing.assert_array_equal(ids, pad_after_eos(tf.constant(ids)).numpy())
    assert logp.shape == ids.shape and np.all(np.isfinite(logp.numpy()))
    # The same seed draws the same completions; another seed others.
    again = model.sample(6, tf.constant([5, 6], tf.int64), prefix=tf.constant(prefix),
                         prefix_length=tf.constant(lengths))[0].numpy()
    other = model.sample(6, tf.constant([5, 7], tf.int64), prefix=tf.constant(prefix),
                         prefix_length=tf.constant(lengths))[0].numpy()
    assert np.array_equal(again, ids) and not np.array_equal(other, ids)


def test_the_rollout_network_starts_as_the_pretrained_generator_and_moves_at_rate_0_8():
    """SeqGAN (Yu et al. 2017) Algorithm 1, beta <- theta after pretraining; then the reference
    code's delayed copy, beta <- 0.8 beta + 0.2 theta after each generator update."""
    task, model = _setup("seqgan_rollout")
    pretrain, start, adversarial = task.phases(model)
    rollout = adversarial.updates[1].modules["rollout_generator"]
    assert start.carried["rollout_generator"] is rollout   # checkpointed with the copy phase too
    gen = model.generator_weights()
    batch = _batch(model)
    _apply(pretrain.updates[0], model, batch)
    assert not all(np.array_equal(a.numpy(), v.numpy()) for a, v in zip(rollout.average, gen))
    start.assign()
    for avg, v in zip(rollout.average, gen):
        np.testing.assert_array_equal(avg.numpy(), v.numpy())
    _apply(adversarial.updates[0], model, batch)   # the discriminator's: the generator stays
    old = _values(rollout.average)
    _apply(adversarial.updates[1], model, batch)
    for avg, v, o in zip(rollout.average, gen, old):
        assert not np.array_equal(v.numpy(), o)
        np.testing.assert_allclose(avg.numpy(), 0.8 * o + 0.2 * v.numpy(), rtol=1e-6, atol=1e-7)


# -- 4: WGAN-GP ---------------------------------------------------------------------------------
def test_the_gradient_penalty_of_an_affine_critic_is_its_slope_s_norm_minus_one_squared():
    """With every convolution's output pushed positive (a large bias), the leaky ReLU is the
    identity and the critic is affine in its [L, V] input: D(x) = <a, x> + c everywhere, with a read
    off D at the one-hot basis. The penalty of any interpolate is then (||a||_2 - 1)^2."""
    task, model = _setup("wgan_conv_lstm")
    for kernel, bias in model.c_conv:
        bias.assign(tf.fill(bias.shape, 10.0))
    L, V = model.max_length, model.vocab_size
    basis = np.eye(L * V, dtype=np.float32).reshape(L * V, L, V)
    zero = model.critic(tf.zeros([1, L, V])).numpy()[0]
    slope = model.critic(tf.constant(basis)).numpy() - zero
    probe = np.random.default_rng(1).dirichlet(np.ones(V), size=(3, L)).astype(np.float32)
    np.testing.assert_allclose(model.critic(tf.constant(probe)).numpy(),
                               probe.reshape(3, -1) @ slope + zero, rtol=1e-4)   # affine indeed
    want = (np.linalg.norm(slope.astype(np.float64)) - 1.0) ** 2
    real = _batch(model, 4)
    w, gp = task.critic_terms(model, real, tf.constant([3, 9], tf.int64))
    # float32 differences of scores around 10: a few units in the fourth digit.
    np.testing.assert_allclose(gp.numpy(), [want] * 4, rtol=1e-3)
    sums = task.critic_sums(model, real, step=tf.constant(0, tf.int64), training=True)
    np.testing.assert_allclose(float(sums["gp_sum"]), 4 * want, rtol=1e-3)
    np.testing.assert_allclose(float(sums["loss_sum"]), float(-sums["w_sum"] + 10.0 * sums["gp_sum"]), rtol=1e-5)


def test_the_gradient_penalty_is_taken_at_the_interpolate_between_real_and_fake():
    model = _setup("wgan_conv_deconv")[1]
    real = tf.one_hot(_batch(model, 3), model.vocab_size)
    fake = model.soft_generate(tf.random.stateless_normal([3, model.noise_dim], seed=[1, 1]))
    eps = tf.constant([0.0, 0.4, 1.0])
    x_hat = tf.reshape(eps, [3, 1, 1]) * real + (1.0 - tf.reshape(eps, [3, 1, 1])) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        score = tf.reduce_sum(model.critic(x_hat))
    norms = np.linalg.norm(tape.gradient(score, x_hat).numpy().reshape(3, -1), axis=1)
    np.testing.assert_allclose(gradient_penalty(model.critic, real, fake, eps).numpy(), (norms - 1.0) ** 2,
                               rtol=1e-5)
    assert len(set(np.round(norms, 6))) == 3   # a nonlinear critic: three different points


@pytest.mark.parametrize("name", ["wgan_conv_lstm", "wgan_conv_deconv"])
def test_the_critic_s_score_reaches_every_generator_weight(name):
    """§5.4.1: the continuous generators are differentiable end to end (the Conv-LSTM reads its
    whole softmax back), so -D(G(z)) trains every generator weight."""
    task, model = _setup(name)
    update = task.phases(model)[-1].updates[1]
    assert update.name == "generator"
    with tf.GradientTape() as tape:
        sums = update.sums(model, None, step=tf.constant(0, tf.int64), training=True)
    grads = tape.gradient(sums["loss_sum"], model.generator_weights())
    dead = [v.name for v, g in zip(model.generator_weights(), grads)
            if g is None or not np.any(np.asarray(tf.convert_to_tensor(g)) != 0)]
    assert not dead, dead


# -- 5: bad input, one line each -----------------------------------------------------------------
def _cli(capsys, *args):
    from zoo.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("sets, message", [
    (["task.rollouts=0"], "task.rollouts"),
    (["task.gamma=1.5"], "task.gamma"),
    (["task.gp_lambda=-1"], "task.gp_lambda"),
    (["task.pretrain_steps=0"], "seqgan_rollout needs a generator pretrained by maximum likelihood"),
    (["model.name=wgan_conv_deconv"], "wgan_conv_deconv has no next-token distribution to pretrain"),
    (["model.vocab_size=50"], "model.vocab_size is 50 in the recipe but the data gives 2000"),
])
def test_bad_recipes_are_refused_in_one_line(sets, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    args = [x for s in sets for x in ("--set", s)]
    code, out, err = _cli(capsys, "train", SMOKE, "--run-dir", tmp_path / "run", *args)
    assert code == 2 and err.startswith("zoo: error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_an_unpretrained_discrete_gan_is_allowed_when_the_recipe_says_so():
    task, model = _setup("seqgan_rollout", "task.pretrain_steps=0", "task.allow_unpretrained=true")
    phases = task.phases(model)
    assert [p.name for p in phases] == ["rollout_network", "adversarial"]
    # Without pretraining the rollout network starts as the generator it delays.
    rollout = phases[1].updates[1].modules["rollout_generator"]
    phases[0].assign()
    for avg, v in zip(rollout.average, model.generator_weights()):
        np.testing.assert_array_equal(avg.numpy(), v.numpy())


def test_generate_refuses_what_the_export_cannot_do_in_one_line(smoke_run, capsys):
    export = smoke_run("textgan").export
    for args, message in [(["--max-tokens", "1000"], "max_tokens must be in 1..15"),
                          (["--beam", "2"], "has no beam search"),
                          (["--temperature", "0"], "--temperature")]:
        code, out, err = _cli(capsys, "generate", export, "--prompt", "The", *args)
        assert code == 2 and err.count("\n") == 1 and message in err, (args, err)
        assert out == ""
    client = open_export(export)
    assert isinstance(client, TextGenerator) and client.default_max_tokens == 15 == client.max_tokens
    for call, message in [(lambda: client.sample(0), "count must be in 1..10000, got 0"),
                          (lambda: client.sample(10001), "count must be in 1..10000"),
                          (lambda: client.generate("The", 0), "max_tokens must be in 1..15"),
                          (lambda: client.generate("The", 3, depth=1), "no depths")]:
        with pytest.raises(ExportError, match=message) as e:
            call()
        assert "\n" not in str(e.value)
    # The graph's own checks, for a caller that skips the client.
    fn = client.savedmodel("generator").signatures["sample"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="count must be in 1..10000"):
        fn(count=tf.constant(0), temperature=tf.constant(1.0), top_k=tf.constant(0), top_p=tf.constant(1.0),
           seed=tf.constant(0, tf.int64))
    code, out, err = _cli(capsys, "generate", export, "--prompt", "The", "--max-tokens", "3", "--seed", "4")
    assert code == 0 and out.startswith("The") and out.count("\n") == 1


@pytest.mark.parametrize("name", ["wgan_conv_lstm", "wgan_conv_deconv"])
def test_a_continuous_generator_s_serving_graph_refuses_a_prompt(name):
    """Whole sentences from noise: nothing to condition on a prompt (the WGAN export's CLI
    refusal, through a trained export: test_textgan_slow.py)."""
    from zoo.data.tokenizers import fit_tokenizer
    from zoo.models.textgan.export import TextGANServing

    tokenizer = fit_tokenizer("sentencepiece", ["The cat sat on the mat.", "A dog ran in the park."] * 4, 24)
    model = _setup(name, vocab_size=tokenizer.vocab_size)[1]
    serving = TextGANServing(model, tokenizer)
    args = dict(max_tokens=tf.constant(3), temperature=tf.constant(1.0), top_k=tf.constant(0),
                top_p=tf.constant(1.0), seed=tf.constant(1, tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"{name} draws whole sentences from noise"):
        serving.generate(prompt=tf.constant("The cat"), **args)
    out = serving.generate(prompt=tf.constant(""), **args)
    assert int(out["prompt_tokens"]) == 0 and int(out["tokens"]) <= 3


# -- 6: the export, without the zoo -------------------------------------------------------------
_FRESH = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the SentencePiece op; not the zoo)
    gen = tf.saved_model.load(sys.argv[1])
    def generate(prompt, seed, top_k=0, max_tokens=15):
        out = gen.signatures["generate"](prompt=tf.constant(prompt), max_tokens=tf.constant(max_tokens),
                                         temperature=tf.constant(1.0), top_k=tf.constant(top_k),
                                         top_p=tf.constant(1.0), seed=tf.constant(seed, tf.int64))
        return {k: (v.numpy().decode() if v.dtype == tf.string else int(v)) for k, v in out.items()}
    def sample(count, seed):
        out = gen.signatures["sample"](count=tf.constant(count), temperature=tf.constant(1.0),
                                       top_k=tf.constant(0), top_p=tf.constant(1.0), seed=tf.constant(seed, tf.int64))
        return [t.decode() for t in out["texts"].numpy()]
    prompt = sys.argv[2]
    result = {"generate": [generate("", s) for s in (1, 1, 2)],
              "prompted": [generate(prompt, s) for s in (1, 1, 2)],
              "greedy": generate(prompt, 0, top_k=1),
              "sample": [sample(5, s) for s in (3, 3, 4)]}
    assert not any(m == "zoo" or m.startswith("zoo.") for m in sys.modules), "the export must not need the zoo"
    print(json.dumps(result))
""")


def test_the_export_samples_reproducibly_in_a_process_without_the_zoo(smoke_run):
    from zoo.runs import prepare_task

    export = smoke_run("textgan").export
    client = open_export(export)
    prompt = "The government"
    proc = subprocess.run([sys.executable, "-c", _FRESH, str(export / client.entry("generator")["path"]), prompt],
                          capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("generate", "prompted", "sample"):
        a, b, c = got[key]
        assert a == b and a != c, key
    assert [len(s) for s in got["sample"]] == [5, 5, 5]
    assert all(g["prompt_tokens"] == 0 for g in got["generate"])
    # The continuation is the generator's, given the prompt's pieces as the sentence's start:
    # greedy decoding here, token by token from the teacher-forced logits, gives the same text.
    task = prepare_task(load_recipe(json.loads((export / "manifest.json").read_text())["recipe"]), export,
                        need_data=False)
    model = keras.models.load_model(export / "model.keras")
    ids = task.tokenizer.encode_array(prompt).tolist()
    ids = ids[:-1] if ids and ids[-1] == EOS else ids
    assert got["greedy"]["prompt_tokens"] == len(ids) > 0
    row = np.zeros((1, model.max_length), np.int32)
    row[0, :len(ids)] = ids
    for t in range(len(ids), model.max_length - 1):   # the last position ends every row
        row[0, t] = int(np.argmax(model.teacher_logits(row)[0, t].numpy()))
        if row[0, t] == EOS:
            break
    cont = row[0, len(ids):]
    cont = cont[:np.flatnonzero(cont == EOS)[0]] if np.any(cont == EOS) else cont
    assert got["greedy"]["text"] == task.tokenizer.decode(cont)
    assert got["greedy"]["tokens"] == len(cont)
    assert client.generate(prompt, 15, top_k=1)["text"] == got["greedy"]["text"]


# -- 7: TensorBoard -----------------------------------------------------------------------------
def test_the_smoke_run_logs_each_update_s_scalars_the_eval_metrics_and_samples(smoke_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tests.helpers import scalars

    tb = smoke_run("textgan").run / "tb"
    for tag in ("loss/discriminator", "d_real_accuracy/discriminator", "d_fake_accuracy/discriminator",
                "loss/generator", "reward/generator", "reward_std/generator", "learning_rate/generator"):
        values = scalars(tb / "train", tag)
        assert [s for s, _ in values] == [1, 2] and all(np.isfinite(v) for _, v in values), tag
    # The generator's learning rate is its own (task.generator_learning_rate), not the recipe's.
    assert scalars(tb / "train", "learning_rate/generator")[0][1] == pytest.approx(1e-4)
    assert [s for s, _ in scalars(tb / "pretrain", "nll")] == [1, 2]
    acc = [v for _, v in scalars(tb / "train", "d_real_accuracy/discriminator")]
    assert all(0.0 <= v <= 1.0 for v in acc)
    for tag in ("bleu4", "self_bleu4", "unique_4grams", "nll", "perplexity", "reward", "d_real_accuracy"):
        assert [s for s, _ in scalars(tb / "eval", tag)] == [2], tag
    eval_tags = EventAccumulator(str(tb / "eval")).Reload().Tags()["tensors"]
    assert "samples" in eval_tags and not {"wasserstein", "gradient_penalty", "fd"} & set(eval_tags)
    acc = EventAccumulator(str(tb / "eval"), size_guidance={"tensors": 0}).Reload()
    text = tf.make_ndarray(acc.Tensors("samples")[-1].tensor_proto).item().decode()
    assert text.startswith("    ") and text.count("\n\n    ") >= 7   # task.text_sample_count: 8
    metrics = smoke_run("textgan").metrics
    assert metrics["unique_4grams"] > 0 and metrics["step"] == 2 and "fd" not in metrics

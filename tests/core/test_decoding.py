"""The shared samplers (zoo.eval.decoding): temperature, top-k and nucleus (top-p) sampling over
the same step-function contract as greedy and beam search, checked against the distributions
they must draw from."""
import numpy as np
import pytest
import tensorflow as tf

from zoo.eval.decoding import filter_log_probs, greedy_decode, sample_decode

PROBS = np.array([0.05, 0.5, 0.3, 0.15], np.float32)   # token 0 is EOS
EOS = 0


def _fixed_step(probs=PROBS):
    """A 'model' whose next-token distribution is always `probs`, whatever came before."""
    logp = tf.math.log(tf.constant(probs))

    def step_fn(tokens, state):
        return tf.tile(logp[None], [tf.shape(tokens)[0], 1]), state
    return step_fn


def _first_tokens(n=6000, **kw):
    seq, _ = sample_decode(_fixed_step(), {"s": tf.zeros([n, 1])}, n, 1, 1, EOS, **kw)
    return np.bincount(seq.numpy()[:, 0], minlength=len(PROBS)) / n


def test_sampling_draws_from_the_model_distribution():
    freq = _first_tokens()
    np.testing.assert_allclose(freq, PROBS, atol=0.025)


def test_temperature_sharpens_and_flattens():
    for t in (0.5, 2.0):
        want = PROBS ** (1 / t) / (PROBS ** (1 / t)).sum()
        np.testing.assert_allclose(_first_tokens(temperature=t), want, atol=0.025)


def test_top_k_and_top_p_keep_the_most_likely_tokens_renormalised():
    freq = _first_tokens(top_k=2)
    np.testing.assert_allclose(freq, [0, 0.5 / 0.8, 0.3 / 0.8, 0], atol=0.025)
    # Nucleus: the smallest set reaching p=0.75 is {1, 2} (0.5, then 0.8 >= 0.75).
    freq = _first_tokens(top_p=0.75)
    np.testing.assert_allclose(freq, [0, 0.5 / 0.8, 0.3 / 0.8, 0], atol=0.025)
    assert _first_tokens(top_p=0.4)[1] == 1.0   # only the most likely token
    logits = filter_log_probs(tf.math.log(tf.constant([PROBS])), top_k=3, top_p=0.9).numpy()[0]
    assert np.all(logits[[1, 2, 3]] > -1e8) and logits[0] < -1e8


def test_top_k_one_is_greedy_and_scores_are_the_models_log_probabilities():
    rng = np.random.default_rng(0)
    table = tf.constant(np.log(rng.dirichlet(np.ones(6), size=6)).astype(np.float32))

    def step_fn(tokens, state):   # next-token distribution depends on the previous token
        return tf.gather(table, tokens), state
    greedy, g_score = greedy_decode(step_fn, {"s": tf.zeros([3, 1])}, 3, 8, 1, EOS)
    sampled, s_score = sample_decode(step_fn, {"s": tf.zeros([3, 1])}, 3, 8, 1, EOS, top_k=1, seed=(4, 2))
    np.testing.assert_array_equal(sampled.numpy(), greedy.numpy())
    np.testing.assert_allclose(s_score.numpy(), g_score.numpy(), rtol=1e-6)


def test_seeds_are_reproducible_in_eager_and_graph_mode():
    step = _fixed_step(np.full(8, 1 / 8, np.float32))
    run = lambda seed: sample_decode(step, {"s": tf.zeros([64, 1])}, 64, 6, 1, EOS, seed=seed)[0].numpy()
    a, b, c = run((1, 2)), run((1, 2)), run((3, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    graph = tf.function(lambda: sample_decode(step, {"s": tf.zeros([64, 1])}, 64, 6, 1, EOS, seed=(1, 2))[0])
    np.testing.assert_array_equal(graph().numpy(), a)
    # After the first EOS a row is padded with -1.
    for row in a:
        ends = np.flatnonzero(row == EOS)
        if ends.size:
            assert np.all(row[ends[0] + 1:] == -1)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        filter_log_probs(tf.zeros([1, 3]), temperature=0)
    with pytest.raises(ValueError, match="top_p"):
        filter_log_probs(tf.zeros([1, 3]), top_p=0)

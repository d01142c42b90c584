"""The convolutional language models (zoo/models/lm/convolutional.py): WaveNet and the TCN.

Receptive fields by formula and by perturbation, exact causality, incremental generation with
per-layer queues equal to `call` (eagerly, inside tf.function, in the family's greedy sampler),
dropout only in training, weight normalisation, bad arguments. The registry sweep builds,
saves/loads and differentiates the registered smoke configurations."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.models.lm.convolutional import CausalConv1D, TCNLM, WaveNetLM

V = 11
# Tiny models that still exercise every code path: kernel 2 and 3, one and two stacks, a 1x1
# residual projection (embedding_dim != channels), tied and untied heads.
CONFIGS = {
    "wavenet_k2": (WaveNetLM, dict(vocab_size=V, embedding_dim=5, residual_channels=6, skip_channels=7,
                                   layers_per_stack=3, stacks=2, kernel_size=2)),
    "wavenet_k3": (WaveNetLM, dict(vocab_size=V, embedding_dim=4, residual_channels=4, skip_channels=4,
                                   layers_per_stack=2, stacks=1, kernel_size=3)),
    "tcn_k3_tied": (TCNLM, dict(vocab_size=V, embedding_dim=5, channels=6, levels=3, kernel_size=3,
                                tied=True)),
    "tcn_k2": (TCNLM, dict(vocab_size=V, embedding_dim=6, channels=6, levels=2, kernel_size=2)),
}
# R = 1 + (k-1)(1 + stacks (2^L - 1)) for WaveNet, 1 + 2(k-1)(2^levels - 1) for the TCN.
EXPECTED_R = {"wavenet_k2": 1 + 1 * (1 + 2 * 7), "wavenet_k3": 1 + 2 * (1 + 1 * 3),
              "tcn_k3_tied": 1 + 2 * 2 * 7, "tcn_k2": 1 + 2 * 1 * 3}


def _model(name, **extra):
    cls, kw = CONFIGS[name]
    keras.utils.set_random_seed(7)
    m = cls(**{**kw, **extra}, seed=3)
    m.build()
    if isinstance(m, TCNLM):
        # The paper's N(0, 0.01) start makes every block nearly the identity; larger weights
        # make the perturbation checks below see each path's contribution clearly.
        for w in m.weights:
            if w.path.endswith(("kernel", "scale", "embeddings")):   # incl. weight-norm gains
                w.assign(w.numpy() * 30.0)
    return m


def _ids(batch, length, seed=0):
    return np.random.default_rng(seed).integers(0, V, size=(batch, length)).astype("int32")


@pytest.fixture(scope="module")
def models():
    return {name: _model(name) for name in CONFIGS}


@pytest.mark.parametrize("name", CONFIGS)
def test_receptive_field_formula_and_perturbation(models, name):
    m = models[name]
    R = m.receptive_field
    assert R == m.context_length == EXPECTED_R[name]
    if isinstance(m, WaveNetLM):
        k = m.kernel_size
        assert R == 1 + (k - 1) + sum((k - 1) * d for d in m.dilations)
    ids = _ids(2, R + 4)
    t = R + 2
    base = np.asarray(m(ids))
    far = ids.copy()
    far[:, t - R] = (far[:, t - R] + 1) % V      # just outside the receptive field of t
    near = ids.copy()
    near[:, t - R + 1] = (near[:, t - R + 1] + 1) % V   # its oldest token
    np.testing.assert_array_equal(np.asarray(m(far))[:, t], base[:, t])
    # A token outside the field leaves the logits bit-identical, so any change is a dependence;
    # 1e-6 is well above float32 rounding of logits of order 1. (The oldest token reaches t
    # only through the first tap of every layer: a small but real effect.)
    assert np.abs(np.asarray(m(near))[:, t] - base[:, t]).max() > 1e-6
    # So a window of the last R tokens gives the full sequence's logits (what recomputation cuts to).
    window = np.asarray(m(ids[:, t - R + 1:t + 1]))[:, -1]
    np.testing.assert_allclose(window, base[:, t], atol=1e-5)


@pytest.mark.parametrize("name", CONFIGS)
def test_causal_a_future_token_never_changes_earlier_outputs(models, name):
    m = models[name]
    ids = _ids(2, 12, seed=1)
    base = np.asarray(m(ids))
    for s in (0, 5, 11):
        changed = ids.copy()
        changed[:, s] = (changed[:, s] + 1 + np.arange(2)) % V
        out = np.asarray(m(changed))
        np.testing.assert_array_equal(out[:, :s], base[:, :s])
        assert np.abs(out[:, s] - base[:, s]).max() > 1e-3


@pytest.mark.parametrize("name", CONFIGS)
def test_initial_state_holds_one_queue_of_k_minus_1_times_d_inputs_per_convolution(models, name):
    m = models[name]
    state = m.initial_state(3)
    k = m.kernel_size
    if isinstance(m, WaveNetLM):
        want = [(3, k - 1, m.embedding_dim)] + [(3, (k - 1) * d, m.residual_channels) for d in m.dilations]
    else:
        ins = [m.embedding_dim] + m.block_channels[:-1]
        want = [s for i in range(m.levels)
                for s in ((3, (k - 1) * 2 ** i, ins[i]), (3, (k - 1) * 2 ** i, m.block_channels[i]))]
    assert isinstance(state, tuple)
    assert [tuple(s.shape) for s in state] == want
    assert all(not np.any(s.numpy()) for s in state)


@pytest.mark.parametrize("name", CONFIGS)
def test_stepping_equals_call_eagerly(models, name):
    m = models[name]
    ids = _ids(3, m.receptive_field + 5, seed=2)
    want = np.asarray(m(ids))
    state = m.initial_state(3)
    got = []
    for t in range(ids.shape[1]):
        logits, new = m.step(ids[:, t], state)
        assert isinstance(new, tuple) and [s.shape for s in new] == [s.shape for s in state]
        got.append(np.asarray(logits))
        state = new
    np.testing.assert_allclose(np.stack(got, 1), want, atol=1e-5)


@pytest.mark.parametrize("name", ["wavenet_k2", "tcn_k3_tied"])
def test_stepping_equals_call_inside_tf_function_with_a_tensor_batch(models, name):
    m = models[name]

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def stepped(ids):
        batch, length = tf.shape(ids)[0], tf.shape(ids)[1]
        out = tf.TensorArray(m.compute_dtype, size=length)

        def body(t, state, out):
            logits, state = m.step(ids[:, t], state)
            return t + 1, state, out.write(t, logits)

        _, _, out = tf.while_loop(lambda t, *_: t < length, body, (0, m.initial_state(batch), out))
        return tf.transpose(out.stack(), [1, 0, 2])

    for batch, length in ((2, 9), (1, m.receptive_field + 3)):
        ids = _ids(batch, length, seed=batch)
        np.testing.assert_allclose(stepped(tf.constant(ids)).numpy(), np.asarray(m(ids)), atol=1e-5)


def test_greedy_decoding_with_step_equals_recomputing_the_window(models):
    """The family's sampler drives `step` in its while loop; recomputing `call` over the last R
    tokens picks the same tokens."""
    from zoo.eval.decoding import greedy_decode

    m = models["wavenet_k3"]   # R = 9: the 14 tokens run past the receptive field

    def step_fn(tokens, state):
        logits, state = m.step(tokens, state)
        return tf.nn.log_softmax(logits), state

    seq, _ = tf.function(lambda: greedy_decode(step_fn, m.initial_state(2), 2, 14, start_token=0,
                                               eos_token=-1))()
    ids = np.zeros((2, 1), "int32")
    for _ in range(14):
        nxt = np.asarray(m(ids[:, -m.receptive_field:]))[:, -1].argmax(-1).astype("int32")
        ids = np.concatenate([ids, nxt[:, None]], 1)
    np.testing.assert_array_equal(seq.numpy(), ids[:, 1:])


@pytest.mark.parametrize("cls,kw", [
    (WaveNetLM, dict(CONFIGS["wavenet_k2"][1], dropout=0.5)),
    (TCNLM, dict(CONFIGS["tcn_k2"][1], dropout=0.5, embedding_dropout=0.5))])
def test_dropout_only_in_training(cls, kw):
    m = cls(**kw, seed=1)
    ids = _ids(2, 10, seed=4)
    infer = np.asarray(m(ids, training=False))
    np.testing.assert_array_equal(np.asarray(m(ids, training=False)), infer)
    assert np.abs(np.asarray(m(ids, training=True)) - infer).max() > 1e-4
    state, got = m.initial_state(2), []
    for t in range(ids.shape[1]):
        logits, state = m.step(ids[:, t], state)
        got.append(np.asarray(logits))
    np.testing.assert_allclose(np.stack(got, 1), infer, atol=1e-5)


def test_weight_norm_starts_at_v_and_ignores_the_scale_of_v():
    conv = CausalConv1D(3, kernel_size=2, dilation_rate=2, weight_norm=True)
    x = np.random.default_rng(5).normal(size=(2, 7, 4)).astype("float32")
    conv.build(x.shape)
    v = np.reshape(conv.kernel.numpy(), (8, 3))     # [k * C_in, filters], tap 0 first
    np.testing.assert_allclose(conv.scale.numpy(), np.linalg.norm(v, axis=0), rtol=1e-6)
    y = np.asarray(conv(x))
    # y_t = W_0 x_{t-2} + W_1 x_t + b with W = v at initialisation.
    xp = np.pad(x, [(0, 0), (2, 0), (0, 0)])
    ref = np.concatenate([xp[:, :7], xp[:, 2:]], -1) @ v
    np.testing.assert_allclose(y, ref, atol=1e-5)
    conv.kernel.assign(conv.kernel.numpy() * 5.0)
    np.testing.assert_allclose(np.asarray(conv(x)), y, atol=1e-5)


def test_bfloat16_policy_steps_with_bfloat16_queues():
    cls, kw = CONFIGS["tcn_k3_tied"]
    m = cls(**kw, dtype="mixed_bfloat16")
    state = m.initial_state(tf.constant(2))
    logits, new = m.step(tf.constant([1, 2]), state)
    assert logits.dtype == tf.bfloat16 and logits.shape == (2, V)
    assert [s.dtype for s in new] == [tf.bfloat16] * len(state)
    assert [s.shape for s in new] == [s.shape for s in state]


@pytest.mark.parametrize("cls,kw,match", [
    (WaveNetLM, dict(kernel_size=1), "kernel_size"),
    (WaveNetLM, dict(stacks=0), "stacks"),
    (WaveNetLM, dict(dropout=1.0), "dropout"),
    (TCNLM, dict(levels=2.5), "levels"),
    (TCNLM, dict(vocab_size=1), "vocab_size"),
    (TCNLM, dict(embedding_dropout=-0.1), "embedding_dropout"),
])
def test_bad_arguments_raise_one_clear_value_error(cls, kw, match):
    with pytest.raises(ValueError, match=match):
        cls(**kw)


def test_a_state_of_the_wrong_length_is_refused(models):
    m = models["tcn_k2"]
    with pytest.raises(ValueError, match="4 buffers"):
        m.step(np.zeros(2, "int32"), m.initial_state(2)[:-1])

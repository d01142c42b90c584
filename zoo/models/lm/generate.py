"""Generation and scoring with any language model of the family, on the zoo's one sampler set
(`zoo.eval.decoding`: greedy, beam search with the GNMT length penalty, temperature, top-k and
nucleus sampling). The same functions run eagerly, in `tf.function` and inside the exported
SavedModels, so Python, TensorBoard samples and `zoo generate` draw the same text for a seed.

A text starts at the beginning-of-text state: the model is fed <eos> (id 0) first, then the
prompt's tokens; the last of them is the sampler's start token, and the continuation stops at
the next <eos> or after `max_tokens`. Models with a bounded context (n-grams, WaveNet, TCN)
read only the last `context_length` tokens of that, and report how many were cut.

`xla_capacity` compiles the sampling / greedy loop with XLA (`jit_compile`): one step of a
256-unit LSTM LM is a few dozen small ops, whose per-op cost in TensorFlow's executor, not the
arithmetic, dominates (benchmarks/bench_lstm_generate.py); the exported `generate` does this.
The loop's token buffer then has a fixed width, `xla_capacity` (>= max_tokens), so that one
compilation serves every `max_tokens`; the prompt is read outside XLA (its length varies).
"""
from __future__ import annotations

import tensorflow as tf

from zoo.eval.decoding import beam_search, check_sampler, checked_sampler, greedy_decode, sample_decode

EOS = 0


def with_start(ids):
    """Prompt ids [B, P] -> [B, 1 + P]: <eos> (the beginning of text) then the prompt."""
    ids = tf.convert_to_tensor(ids, tf.int32)
    return tf.concat([tf.fill([tf.shape(ids)[0], 1], EOS), ids], axis=1)


def cut_to_context(model, ids):
    """(the last `model.context_length` columns of ids [B, P], the number of columns cut)."""
    ids = tf.convert_to_tensor(ids, tf.int32)
    if model.context_length is None:
        return ids, tf.constant(0, tf.int32)
    n = tf.shape(ids)[1]
    keep = tf.minimum(n, int(model.context_length))
    return ids[:, n - keep:], n - keep


def prime(model, ids, depth=None):
    """Feed ids [B, P] (P >= 1) but the last: (the model's state, the last column [B])."""
    ids = tf.convert_to_tensor(ids, tf.int32)
    kw = {} if depth is None else {"depth": depth}
    state = model.initial_state(tf.shape(ids)[0], **kw)

    def body(t, state):
        _, state = model.step(ids[:, t], state, **kw)
        return t + 1, state

    _, state = tf.while_loop(lambda t, s: t < tf.shape(ids)[1] - 1, body, (tf.constant(0), state))
    return state, ids[:, -1]


def _step_fn(model, depth):
    kw = {} if depth is None else {"depth": depth}

    def step_fn(tokens, state):
        logits, state = model.step(tokens, state, **kw)
        return tf.nn.log_softmax(tf.cast(logits, tf.float32)), state

    return step_fn


def generate_ids(model, prompt_ids, max_tokens, *, method="sample", temperature=1.0, top_k=0, top_p=1.0,
                 beam_size=4, length_penalty=0.0, seed=(0, 0), depth=None, xla_capacity=None):
    """Continue each row of prompt ids [B, P] (without the leading <eos>; P may be 0).

    method: "sample" (temperature / top_k / top_p, stateless random numbers from `seed`),
    "greedy" or "beam" (`beam_size`, `length_penalty`). Returns (ids [B, max_tokens] int32:
    the continuation, its <eos> if it reached one, then -1; scores [B]: summed log-probability;
    prompt tokens cut to the model's context, scalar).

    xla_capacity: a Python int: "sample" and "greedy" run their loop compiled by XLA with a
    buffer of that many tokens (max_tokens must not exceed it; the caller checks). Same tokens as
    without (`sample_decode`'s random numbers are XLA's and TensorFlow's alike)."""
    ids, cut = cut_to_context(model, with_start(prompt_ids))
    state, start = prime(model, ids, depth)
    batch = tf.shape(ids)[0]
    step_fn = _step_fn(model, depth)
    # The start token differs per row; the searches feed one start token, so fold it in: the
    # first step is taken here and the searches start from its state.
    if method == "beam":
        first_logp, state = step_fn(start, state)
        seqs, scores = beam_search(_after_first(step_fn, first_logp), state, batch, beam_size,
                                   max_tokens, -1, EOS, length_penalty)
        return seqs, scores, cut
    if method not in ("sample", "greedy"):
        raise ValueError(f"method must be 'sample', 'greedy' or 'beam', got {method!r}")
    if xla_capacity is not None:
        if method == "sample" and any(tf.is_tensor(v) for v in (temperature, top_k, top_p)):
            # Asserts do nothing inside an XLA cluster: check the serving inputs before it.
            temperature, top_k, top_p = checked_sampler(temperature, top_k, top_p)
        elif method == "sample":
            check_sampler(temperature, top_k, top_p)
        capacity = int(xla_capacity)

        @tf.function(jit_compile=True, autograph=False)
        def decode(state, start, max_tokens, temperature, top_k, top_p, seed):
            first_logp, state = step_fn(start, state)
            loop = _after_first(step_fn, first_logp)
            batch = tf.shape(start)[0]
            if method == "greedy":
                return greedy_decode(loop, state, batch, max_tokens, -1, EOS, capacity=capacity)
            return sample_decode(loop, state, batch, max_tokens, -1, EOS, temperature=temperature, top_k=top_k,
                                 top_p=top_p, seed=seed, capacity=capacity, check=False)

        max_tokens = tf.convert_to_tensor(max_tokens, tf.int32)
        seqs, scores = decode(state, start, max_tokens, tf.convert_to_tensor(temperature, tf.float32),
                              tf.convert_to_tensor(top_k, tf.int32), tf.convert_to_tensor(top_p, tf.float32),
                              tf.cast(tf.convert_to_tensor(seed), tf.int32))
        return seqs[:, :max_tokens], scores, cut
    first_logp, state = step_fn(start, state)
    loop = _after_first(step_fn, first_logp)
    if method == "greedy":
        seqs, scores = greedy_decode(loop, state, batch, max_tokens, -1, EOS)
    elif method == "sample":
        seqs, scores = sample_decode(loop, state, batch, max_tokens, -1, EOS, temperature=temperature,
                                     top_k=top_k, top_p=top_p, seed=seed)
    return seqs, scores, cut


def _after_first(step_fn, first_logp):
    """A step function whose call with the placeholder token -1 (the searches' first step)
    returns the already computed distribution after the prompt, with the state unchanged."""

    def fn(tokens, state):
        first = tf.reduce_all(tf.equal(tokens, -1))
        safe = tf.maximum(tokens, 0)
        logp, new_state = step_fn(safe, state)
        reps = tf.shape(tokens)[0] // tf.shape(first_logp)[0]
        prior = tf.repeat(first_logp, reps, axis=0)
        logp = tf.where(first, prior, logp)
        new_state = tf.nest.map_structure(lambda a, b: tf.where(first, a, b), state, new_state)
        return logp, new_state

    return fn


def score_ids(model, ids, lengths, depth=None):
    """Natural-log probability of each row's tokens and the final <eos>, from the beginning of
    text: ids [B, L] (padded), lengths [B] -> (log_prob [B] float32, tokens scored [B] int32)."""
    ids = tf.convert_to_tensor(ids, tf.int32)
    lengths = tf.cast(lengths, tf.int32)
    inputs = with_start(ids)                                   # <eos> w_1 .. w_L
    targets = tf.concat([ids, tf.fill([tf.shape(ids)[0], 1], EOS)], axis=1)
    positions = tf.range(tf.shape(targets)[1])[None, :]
    targets = tf.where(positions == lengths[:, None], EOS, targets)   # <eos> right after each row
    kw = {} if depth is None else {"depth": depth}
    logits = tf.cast(model(inputs, training=False, **kw), tf.float32)
    logp = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
    mask = tf.cast(positions <= lengths[:, None], tf.float32)
    return tf.reduce_sum(logp * mask, axis=1), lengths + 1

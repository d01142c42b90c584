"""Autoregressive decoding for every family: beam search (with the GNMT length penalty of Wu et
al., "Google's Neural Machine Translation System", 2016, §7), greedy search and sampling
(temperature, top-k, nucleus / top-p) over a user-supplied step function.

The step function sees a flat batch of N = batch * beam rows:

    step_fn(tokens [N] int32, state) -> (log_probs [N, V], new_state)

`state` is any nest (tf.nest) of tensors whose leading dimension is N; the search reorders it
with `tf.gather` when beams are pruned, so the step function never needs to know about beams.
Both searches run in a `tf.while_loop`, so they work eagerly and inside `tf.function`.
"""
from __future__ import annotations

import tensorflow as tf

# A finite "impossible" log-probability: -inf would turn into NaN in `0 * -inf` style arithmetic.
_NEG = -1e9


def gnmt_length_penalty(length, alpha: float):
    """GNMT length penalty ((5 + length) / 6) ** alpha (Wu et al., 2016); 1 when alpha = 0."""
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)


def _batch(batch_size):
    """A Python int, or a scalar int32 tensor for a batch unknown at trace time (e.g. a serving
    signature over [None] strings)."""
    return tf.convert_to_tensor(batch_size, tf.int32) if tf.is_tensor(batch_size) else int(batch_size)


def _size(n):
    """A Python int, or a scalar int32 tensor (a length or beam size given at serving time)."""
    return tf.cast(n, tf.int32) if tf.is_tensor(n) else int(n)


def _loop(cond, body, loop_vars, T, dynamic: bool):
    """tf.while_loop; with sizes known only at run time every loop variable may change shape
    (a batch dimension folded to a constant at trace time would otherwise be pinned)."""
    kw = {}
    if dynamic:
        kw["shape_invariants"] = tf.nest.map_structure(
            lambda v: tf.TensorShape([None] * v.shape.rank), loop_vars)
    return tf.while_loop(cond, body, loop_vars, maximum_iterations=T, **kw)


def _tile_beams(x, beam_size):
    """[B, ...] -> [B * beam, ...], each row repeated `beam_size` times consecutively."""
    return tf.repeat(x, beam_size, axis=0)


def beam_search(step_fn, initial_state, batch_size, beam_size, max_length, start_token, eos_token,
                length_penalty=0.0, pad_token=-1):
    """Beam search for the highest-scoring sequence of each batch row.

    Args:
        step_fn: `(tokens [N], state) -> (log_probs [N, V], new_state)` with N = batch * beam.
        initial_state: nest of tensors with leading dimension `batch_size`; repeated per beam
            here (row b, beam k lives at flat index b * beam_size + k).
        batch_size, beam_size, max_length: Python ints or scalar int32 tensors (sizes given at
            serving time); `max_length` counts the EOS token.
            The vocabulary V must be at least 2.
        start_token: the token fed at the first step (e.g. a GO symbol).
        eos_token: ends a hypothesis; it is included in the returned sequence.
        length_penalty: GNMT alpha; a hypothesis of length n is ranked by logp / ((5+n)/6)^alpha.
        pad_token: written after EOS.

    Returns:
        (sequences [batch, max_length] int32, scores [batch] float32): per row the best finished
        hypothesis (its summed log-probability divided by the length penalty, i.e. the plain sum
        when alpha = 0); a row where no hypothesis reached EOS gets its best unfinished one.
    """
    B, K, T = _batch(batch_size), _size(beam_size), _size(max_length)
    alpha = float(length_penalty)
    lp = gnmt_length_penalty

    state = tf.nest.map_structure(lambda s: _tile_beams(tf.convert_to_tensor(s), K), initial_state)
    # Only beam 0 is live at the start: identical beams would fill the beam with duplicates.
    alive_logp = tf.tile(tf.where(tf.range(K) == 0, 0.0, _NEG)[None, :], [B, 1])
    alive_seq = tf.fill([B, K, T], tf.constant(pad_token, tf.int32))
    tokens = tf.fill([B * K], tf.cast(start_token, tf.int32))
    fin_seq = tf.fill([B, K, T], tf.constant(pad_token, tf.int32))
    fin_score = tf.fill([B, K], _NEG)
    fin_flag = tf.zeros([B, K], tf.bool)
    batch_offsets = tf.range(B)[:, None] * K
    positions = tf.range(T)

    def not_done(t, alive_seq, alive_logp, tokens, state, fin_seq, fin_score, fin_flag):
        # Log-probs only decrease and the penalty only grows, so the best alive hypothesis can at
        # most reach alive_logp / lp(T) (for alpha >= 0); stop once no row can still improve.
        bound = tf.reduce_max(alive_logp, axis=1) / lp(T, alpha)
        worst_fin = tf.reduce_min(tf.where(fin_flag, fin_score, -_NEG), axis=1)
        improvable = tf.logical_or(~tf.reduce_all(fin_flag, axis=1), bound > worst_fin)
        return tf.logical_and(t < T, tf.reduce_any(improvable))

    def step(t, alive_seq, alive_logp, tokens, state, fin_seq, fin_score, fin_flag):
        log_probs, new_state = step_fn(tokens, state)
        log_probs = tf.cast(log_probs, tf.float32)
        V = tf.shape(log_probs)[-1]
        cand = tf.reshape(alive_logp[:, :, None] + tf.reshape(log_probs, [B, K, -1]), [B, -1])
        # Each beam has a single EOS extension, so at most K of the best 2K candidates end here
        # and at least K stay alive (needs V >= 2).
        top_logp, top_idx = tf.math.top_k(cand, k=2 * K)
        parent = top_idx // V  # [B, 2K] beam index within the row
        token = top_idx % V
        seq = tf.gather(alive_seq, parent, batch_dims=1)
        seq = tf.where(positions[None, None, :] == t, token[:, :, None], seq)
        is_eos = tf.equal(token, eos_token)

        # Alive: the best K candidates that did not just end.
        masked = tf.where(is_eos, _NEG, top_logp)
        new_alive_logp, keep = tf.math.top_k(masked, k=K)
        new_alive_seq = tf.gather(seq, keep, batch_dims=1)
        new_parent = tf.gather(parent, keep, batch_dims=1)
        new_tokens = tf.reshape(tf.gather(token, keep, batch_dims=1), [-1])
        flat_parent = tf.reshape(new_parent + batch_offsets, [-1])
        new_state = tf.nest.map_structure(lambda s: tf.gather(s, flat_parent), new_state)

        # Finished: merge the new EOS hypotheses into the K best seen so far.
        eos_score = tf.where(is_eos, top_logp / lp(t + 1, alpha), _NEG)
        all_score = tf.concat([fin_score, eos_score], axis=1)
        all_seq = tf.concat([fin_seq, seq], axis=1)
        all_flag = tf.concat([fin_flag, is_eos & (top_logp > _NEG / 2)], axis=1)
        new_fin_score, pick = tf.math.top_k(tf.where(all_flag, all_score, 2 * _NEG), k=K)
        new_fin_seq = tf.gather(all_seq, pick, batch_dims=1)
        new_fin_flag = tf.gather(all_flag, pick, batch_dims=1)
        return (t + 1, new_alive_seq, new_alive_logp, new_tokens, new_state,
                new_fin_seq, new_fin_score, new_fin_flag)

    loop_vars = (tf.constant(0), alive_seq, alive_logp, tokens, state, fin_seq, fin_score, fin_flag)
    dynamic = any(tf.is_tensor(v) for v in (B, K, T))
    _, alive_seq, alive_logp, _, _, fin_seq, fin_score, fin_flag = _loop(not_done, step, loop_vars, T, dynamic)

    has_fin = fin_flag[:, 0]  # top_k sorted finished hypotheses first
    sequences = tf.where(has_fin[:, None], fin_seq[:, 0], alive_seq[:, 0])
    scores = tf.where(has_fin, fin_score[:, 0], alive_logp[:, 0] / lp(T, alpha))
    return sequences, scores


def _decode_loop(step_fn, initial_state, batch_size, max_length, start_token, eos_token, pad_token, pick,
                 capacity=None):
    """One token per row and step, chosen by `pick(log_probs [B, V], t) -> [B]`, until every
    row has produced EOS or `max_length` tokens. Returns (sequences, summed log-probabilities).
    `capacity` (a Python int >= max_length): the width of the returned sequences, fixed so that
    a loop compiled by XLA has static shapes whatever `max_length` is at run time."""
    B, T = _batch(batch_size), _size(max_length)
    width = T if capacity is None else int(capacity)
    state = tf.nest.map_structure(tf.convert_to_tensor, initial_state)
    seq = tf.fill([B, width], tf.constant(pad_token, tf.int32))
    tokens = tf.fill([B], tf.cast(start_token, tf.int32))
    score = tf.zeros([B])
    done = tf.zeros([B], tf.bool)
    positions = tf.range(width)

    def step(t, seq, tokens, state, score, done):
        log_probs, state = step_fn(tokens, state)
        log_probs = tf.cast(log_probs, tf.float32)
        token = tf.cast(pick(log_probs, t), tf.int32)
        chosen = tf.gather(log_probs, token, batch_dims=1)
        write = tf.logical_and(positions[None, :] == t, ~done[:, None])
        seq = tf.where(write, token[:, None], seq)
        score = score + tf.where(done, 0.0, chosen)
        done = done | tf.equal(token, eos_token)
        return t + 1, seq, token, state, score, done

    _, seq, _, _, score, _ = _loop(
        lambda t, seq, tokens, state, score, done: tf.logical_and(t < T, ~tf.reduce_all(done)),
        step, (tf.constant(0), seq, tokens, state, score, done), T, tf.is_tensor(B) or tf.is_tensor(T))
    return seq, score


def greedy_decode(step_fn, initial_state, batch_size, max_length, start_token, eos_token,
                  pad_token=-1, capacity=None):
    """Pick the most likely token at every step (beam size 1 without re-ranking).

    Same `step_fn` contract as `beam_search` (here N = batch). Returns (sequences [batch,
    max_length] int32, scores [batch] float32): the sequence up to and including its first EOS
    then `pad_token`, and its summed log-probability (`capacity`: see `_decode_loop`).
    """
    return _decode_loop(step_fn, initial_state, batch_size, max_length, start_token, eos_token, pad_token,
                        lambda log_probs, t: tf.argmax(log_probs, axis=-1, output_type=tf.int32), capacity)


def check_sampler(temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, beam_size: int = 1,
                  length_penalty: float = 0.0, seed: int = 0):
    """One clear ValueError for sampler settings no sampler can use (Python values)."""
    import math

    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (use greedy or beam search for argmax), got {temperature}")
    if int(top_k) != top_k or top_k < 0:
        raise ValueError(f"top_k must be an integer >= 1 (0: no top-k cut), got {top_k}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if int(beam_size) != beam_size or beam_size < 1:
        raise ValueError(f"beam size must be an integer >= 1, got {beam_size}")
    # GNMT's alpha (Wu et al. 2016, §7): 0 is no penalty; a negative one would prefer ever
    # shorter outputs, and NaN would compare every hypothesis as equal.
    if not (isinstance(length_penalty, (int, float)) and math.isfinite(length_penalty) and length_penalty >= 0):
        raise ValueError(f"length penalty must be a finite number >= 0 (0: none), got {length_penalty}")
    if isinstance(seed, bool) or int(seed) != seed or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an integer in [0, 2**63), got {seed}")


def checked_sampler(temperature, top_k, top_p):
    """(temperature, top_k, top_p) as float32 / int32 / float32 tensors that wait for the in-graph
    checks of their ranges (a serving signature's inputs)."""
    temperature = tf.cast(temperature, tf.float32)
    top_k, top_p = tf.cast(top_k, tf.int32), tf.cast(top_p, tf.float32)
    checks = [tf.debugging.assert_positive(temperature, message="temperature must be > 0"),
              tf.debugging.assert_non_negative(top_k, message="top_k must be >= 0 (0: no top-k cut)"),
              tf.debugging.assert_positive(top_p, message="top_p must be in (0, 1]"),
              tf.debugging.assert_less_equal(top_p, 1.0, message="top_p must be in (0, 1]")]
    with tf.control_dependencies(checks):
        return tf.identity(temperature), tf.identity(top_k), tf.identity(top_p)


def filter_log_probs(log_probs, temperature=1.0, top_k=0, top_p=1.0, check=True):
    """Logits of the sampling distribution: log-probabilities [B, V] divided by `temperature`,
    then only the `top_k` most likely tokens (0: all) and the smallest set whose probability
    reaches `top_p` (nucleus sampling, Holtzman et al. 2020, "The Curious Case of Neural Text
    Degeneration"; 1.0: all) kept; the rest get a log-probability of -1e9.

    The settings are Python numbers (checked by `check_sampler`) or scalar tensors (a serving
    signature's inputs, checked in the graph by `checked_sampler`; `check=False`: already
    checked, e.g. outside an XLA cluster, where asserts do nothing)."""
    dynamic = any(tf.is_tensor(v) for v in (temperature, top_k, top_p))
    if not dynamic:
        check_sampler(temperature, top_k, top_p)
    elif check:
        temperature, top_k, top_p = checked_sampler(temperature, top_k, top_p)
    else:
        temperature = tf.cast(temperature, tf.float32)
        top_k, top_p = tf.cast(top_k, tf.int32), tf.cast(top_p, tf.float32)
    logits = tf.cast(log_probs, tf.float32) / temperature
    V = tf.shape(logits)[-1]

    def cut_top_k(logits):
        k = tf.minimum(tf.where(top_k > 0, top_k, V), V) if dynamic else tf.minimum(top_k, V)
        kth = tf.gather(tf.sort(logits, axis=-1, direction="DESCENDING"), k - 1, axis=-1)[:, None]
        return tf.where(logits < kth, _NEG, logits)

    def nucleus(logits):
        sorted_logits = tf.sort(logits, axis=-1, direction="DESCENDING")
        # A token stays if the probability of the tokens ranked before it is below top_p, so the
        # most likely token always stays; ties with the last kept token stay too.
        before = tf.cumsum(tf.nn.softmax(sorted_logits, axis=-1), axis=-1, exclusive=True)
        kept = tf.reduce_sum(tf.cast(before < top_p, tf.int32), axis=-1)
        threshold = tf.gather(sorted_logits, kept - 1, batch_dims=1)[:, None]
        return tf.where(logits < threshold, _NEG, logits)

    if dynamic:   # the sorts only run when the serving call asks for a cut
        logits = tf.cond(top_k > 0, lambda: cut_top_k(logits), lambda: logits)
        return tf.cond(top_p < 1.0, lambda: nucleus(logits), lambda: logits)
    if top_k:
        logits = cut_top_k(logits)
    return nucleus(logits) if top_p < 1.0 else logits


def _mix32(x):
    """Chris Wellons' "lowbias32" integer hash of uint32 values (exact integer arithmetic: the
    same bits in TensorFlow's kernels and under XLA)."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(16, tf.uint32)))
    x = x * tf.constant(0x7FEB352D, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(15, tf.uint32)))
    x = x * tf.constant(0x846CA68B, tf.uint32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(16, tf.uint32)))


def gumbel_noise(seed, t, shape):
    """Standard Gumbel noise [B, V] for step `t` from a seed pair, by counter-based hashing.

    `tf.random.stateless_*` draw different numbers under XLA than in TensorFlow's own kernels
    (even with an explicit Philox key and counter), so a sampler compiled by XLA would not repeat
    the uncompiled one's text; integer hashing gives both the same uniforms."""
    golden = tf.constant(0x9E3779B9, tf.uint32)
    seed = tf.bitcast(tf.cast(seed, tf.int32), tf.uint32)
    base = _mix32(_mix32(seed[0]) ^ seed[1]) + tf.bitcast(tf.cast(t, tf.int32), tf.uint32) * golden
    rows = _mix32(_mix32(base) + tf.cast(tf.range(shape[0]), tf.uint32) * tf.constant(0x85EBCA6B, tf.uint32))
    bits = _mix32(rows[:, None] + tf.cast(tf.range(shape[1]), tf.uint32)[None, :] * golden)
    # The top 24 bits, centred in their interval: uniforms in (0, 1), never 0 or 1.
    u = (tf.cast(tf.bitwise.right_shift(bits, tf.constant(8, tf.uint32)), tf.float32) + 0.5) * (1.0 / (1 << 24))
    return -tf.math.log(-tf.math.log(u))


def sample_decode(step_fn, initial_state, batch_size, max_length, start_token, eos_token, *,
                  temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed=(0, 0),
                  pad_token=-1, capacity=None, check=True):
    """Draw each token from the model's distribution, reshaped by `filter_log_probs`.

    Same `step_fn` contract and outputs as `greedy_decode`; the scores are the unfiltered
    log-probabilities of the drawn tokens. Counter-based random numbers (the Gumbel-max trick,
    argmax(logits + Gumbel noise), with `gumbel_noise`): the same `seed` (a pair of ints) gives
    the same samples in eager mode, in `tf.function`, compiled by XLA and in a SavedModel (up to
    float rounding of the logits between XLA and TensorFlow's kernels: a near-tie may break
    differently). `check=False`: the sampler settings were checked already (`checked_sampler`).
    """
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int32)

    def pick(log_probs, t):
        logits = filter_log_probs(log_probs, temperature, top_k, top_p, check=check)
        return tf.argmax(logits + gumbel_noise(seed, t, tf.shape(logits)), axis=-1, output_type=tf.int32)

    return _decode_loop(step_fn, initial_state, batch_size, max_length, start_token, eos_token, pad_token, pick,
                        capacity)

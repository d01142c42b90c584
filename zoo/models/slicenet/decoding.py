"""Greedy and beam-search translation with a SliceNet (Kaiser et al., "Depthwise Separable
Convolutions for Neural Machine Translation", §5: beam 4 + length penalty),
built on the zoo's generic `zoo.eval.decoding` searches, and target scoring.

The step function re-runs the causal decoder over the prefix decoded so far (positions
0..t) and reads the logits of position t; causality makes that equal to incremental decoding.
The same functions run eagerly, in `tf.function` and inside the exported SavedModel.
"""
from __future__ import annotations

import tensorflow as tf

from zoo.eval.decoding import beam_search, greedy_decode
from zoo.models.slicenet.model import EOS, GO, NUM_SPECIAL, PAD

_NEG = -1e9


def source_ids(vocab, texts, max_length: int, what: str = "source"):
    """Strings [B] (placeholders already protected) -> dense ids [B, <= max_length]: tokens,
    EOS, PAD padding. A string of more than max_length - 1 tokens is an error naming the limit,
    never cut: a cut source translates as if its tail were not there (`split_source` in
    data.py cuts long sources at sentence boundaries instead)."""
    ragged = tf.cast(vocab.tf_encode(texts), tf.int32)
    limit = max_length - 1
    check = tf.debugging.assert_less_equal(
        tf.cast(ragged.row_lengths(), tf.int32), tf.constant(limit, tf.int32),
        message=f"a {what} is longer than this model reads: at most {limit} tokens "
                f"(max_{what}_length {max_length} with EOS; a placeholder counts as one); "
                + ("split it, e.g. at sentence boundaries as zoo's TranslationClient does"
                   if what == "source" else "it is not cut"))
    with tf.control_dependencies([check]):
        eos = tf.fill([ragged.nrows(), 1], tf.constant(EOS, tf.int32))
    return tf.concat([ragged, eos], axis=1).to_tensor(default_value=PAD)


def source_token_counts(vocab, texts):
    """Tokens the model reads for each string [B] (placeholders protected, EOS not counted):
    what `source_ids` checks against max_source_length - 1."""
    return tf.cast(vocab.tf_encode(vocab.protect(texts)[0]).row_lengths(), tf.int32)


def banned_tokens(vocab_size: int, base_size: int):
    """Tokens never generated: PAD, GO and the language tokens."""
    ban = tf.concat([tf.constant([PAD, GO]), tf.range(base_size, vocab_size)], 0)
    return tf.scatter_nd(ban[:, None], tf.fill(tf.shape(ban), _NEG), [vocab_size])


def decode_ids(model, source, start_token, max_length: int, beam_size: int = 4, length_penalty: float = 0.6,
               base_size: int | None = None, slot_ids=None):
    """Source ids [B, S] -> (target ids [B, max_length] ending in EOS then PAD, scores [B]).

    beam_size 1 is greedy decoding. `start_token` is GO or the target-language token.
    `slot_ids` (placeholder slot tokens, see placeholders.py): a hypothesis uses each slot of its
    source at least once and at most as often as the source does, no other slot, and cannot end
    before it has placed them all -- a translation that drops a format field or a link is broken
    for the application that shows it.
    """
    source = tf.convert_to_tensor(source, tf.int32)
    batch = tf.shape(source)[0]
    encoding, mask = model.encode(source, training=False)
    T, V = int(max_length), model.vocab_size
    bias = banned_tokens(V, base_size or V)
    state = {"encoding": encoding, "mask": mask, "prefix": tf.fill([batch, T], PAD),
             "t": tf.zeros([batch], tf.int32)}
    if slot_ids is not None:
        slot_one_hot = tf.one_hot(tf.constant(slot_ids, tf.int32), V)  # [K, V]
        is_slot = tf.reduce_max(slot_one_hot, axis=0)
        counts = tf.reduce_sum(tf.cast(source[:, :, None] == tf.constant(slot_ids, tf.int32), tf.float32), 1)
        state["left"] = tf.matmul(counts, slot_one_hot)  # [B, V]: uses of each slot still allowed
        state["todo"] = tf.minimum(state["left"], 1.0)  # slots not placed yet
        eos = tf.one_hot(EOS, V)

    def step_fn(tokens, state):
        t = state["t"][0]
        prefix = tf.where(tf.range(T)[None, :] == t, tokens[:, None], state["prefix"])
        logits = model.decode(state["encoding"], state["mask"], prefix[:, : t + 1], training=False)
        log_probs = tf.nn.log_softmax(tf.cast(logits[:, -1], tf.float32)) + bias
        new_state = {**state, "prefix": prefix, "t": state["t"] + 1}
        if slot_ids is not None:
            placed = tf.one_hot(tokens, V)
            todo, left = state["todo"] * (1.0 - placed), state["left"] - placed
            unfinished = tf.cast(tf.reduce_any(todo > 0, axis=1, keepdims=True), tf.float32)
            used_up = is_slot * tf.cast(left <= 0, tf.float32)
            log_probs += (used_up + unfinished * eos) * _NEG
            new_state.update(todo=todo, left=left)
        return log_probs, new_state

    # A static batch when known (eager / fixed-size calls), else the runtime one (serving).
    static_batch = source.shape[0] if source.shape[0] is not None else batch
    if beam_size == 1:
        return greedy_decode(step_fn, state, static_batch, T, start_token, EOS, pad_token=PAD)
    return beam_search(step_fn, state, static_batch, beam_size, T, start_token, EOS,
                       length_penalty=length_penalty, pad_token=PAD)


def score_ids(model, source, target, start_token):
    """log p(target | source) [B] for target ids [B, T] (EOS-terminated, PAD padded)."""
    target = tf.convert_to_tensor(target, tf.int32)
    start = tf.fill([tf.shape(target)[0], 1], tf.cast(start_token, tf.int32))
    logits = model({"source": source, "target_in": tf.concat([start, target[:, :-1]], 1)}, training=False)
    logp = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=tf.cast(logits, tf.float32))
    return tf.reduce_sum(logp * tf.cast(target != PAD, tf.float32), axis=1)


def target_ids(vocab, texts, max_length: int):
    """Target strings -> ids [B, <= T]: tokens, EOS, PAD; longer than T - 1 tokens is an error."""
    return source_ids(vocab, texts, max_length, what="target")


def translate_texts(model, vocab, texts, start_token, max_source_length, max_target_length, beam_size,
                    length_penalty):
    """Strings [B] -> (translations [B], ids [B, T], scores [B]); placeholders protected when
    the vocabulary does so; an empty or whitespace-only string translates to "". A source of
    more than max_source_length - 1 tokens is an error (see `source_ids`). Shared by
    `Translator` and the exported `translate` signature."""
    texts = tf.convert_to_tensor(texts, tf.string)
    masked, values = vocab.protect(texts)
    ids, scores = decode_ids(model, source_ids(vocab, masked, max_source_length), start_token,
                             max_target_length, beam_size, length_penalty, vocab.base_size, vocab.slot_ids())
    # Nothing to translate translates to nothing (the decoder would still emit tokens).
    empty = tf.strings.regex_full_match(texts, r"[\s\p{Z}]*")
    return tf.where(empty, "", vocab.restore(vocab.tf_decode(ids), values)), ids, scores


def score_texts(model, vocab, texts, targets, start_token, max_source_length, max_target_length):
    """log p(target | text) [B], with the placeholder slots the model was trained on."""
    src, values = vocab.protect(texts)
    tgt, _ = vocab.protect(targets, values)
    return score_ids(model, source_ids(vocab, src, max_source_length), target_ids(vocab, tgt, max_target_length),
                     start_token)


class Translator:
    """Python-side translation of strings (`zoo eval`, BLEU, tests) with a trained model."""

    def __init__(self, model, vocab, max_source_length=64, max_target_length=64, beam_size=4,
                 length_penalty=0.6):
        self.model, self.vocab = model, vocab
        self.max_source_length, self.max_target_length = max_source_length, max_target_length
        self.beam_size, self.length_penalty = beam_size, length_penalty
        self._fns = {}
        self._count = None

    def _fn(self, beam_size, length_penalty):
        key = (beam_size, float(length_penalty))
        if key not in self._fns:
            def run(texts, start):
                return translate_texts(self.model, self.vocab, texts, start, self.max_source_length,
                                       self.max_target_length, beam_size, length_penalty)
            # Traced once per setting: an eager while_loop would run op by op.
            self._fns[key] = tf.function(run, input_signature=[tf.TensorSpec([None], tf.string),
                                                               tf.TensorSpec([], tf.int32)])
        return self._fns[key]

    def translate_with_ids(self, texts, language=None, beam_size=None, length_penalty=None):
        texts = list(texts)
        if not texts:
            return [], None, None
        beam = self.beam_size if beam_size is None else beam_size
        alpha = self.length_penalty if length_penalty is None else length_penalty
        strings, ids, scores = self._fn(beam, alpha)(tf.constant(texts, tf.string),
                                                     tf.constant(self.vocab.start_token(language), tf.int32))
        return [s.decode("utf-8", errors="replace") for s in strings.numpy()], ids.numpy(), scores.numpy()

    @property
    def max_source_tokens(self) -> int:
        return self.max_source_length - 1

    def source_tokens(self, texts) -> list[int]:
        """Tokens the model reads for each text (placeholders protected, EOS not counted)."""
        if self._count is None:
            self._count = tf.function(lambda t: source_token_counts(self.vocab, t),
                                      input_signature=[tf.TensorSpec([None], tf.string)])
        return self._count(tf.constant(list(texts), tf.string)).numpy().tolist()

    def translate(self, texts, language=None, beam_size=None, length_penalty=None, batch_size=32):
        """Translations of texts of any length: a source longer than the model reads is
        translated in pieces cut at sentence boundaries (`data.split_source`)."""
        from zoo.models.slicenet.data import translate_in_pieces

        return translate_in_pieces(
            texts, lambda pieces: self._translate_batches(pieces, language, beam_size, length_penalty, batch_size),
            self.source_tokens, self.max_source_tokens)

    def _translate_batches(self, texts, language, beam_size, length_penalty, batch_size):
        # Batches of similar length: a batch decodes until its longest output ends.
        texts = list(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = [""] * len(texts)
        for i in range(0, len(texts), batch_size):
            chunk = order[i:i + batch_size]
            for j, text in zip(chunk, self.translate_with_ids([texts[j] for j in chunk], language, beam_size,
                                                               length_penalty)[0]):
                out[j] = text
        return out

    def score(self, texts, targets, language=None):
        return score_texts(self.model, self.vocab, tf.constant(list(texts), tf.string),
                           tf.constant(list(targets), tf.string), self.vocab.start_token(language),
                           self.max_source_length, self.max_target_length).numpy()

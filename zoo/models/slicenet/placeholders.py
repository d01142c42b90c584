"""Placeholder protection for translating software messages (`data.options.placeholders`).

Django's catalogues (and most UI strings) carry parts a translation must keep verbatim: format
fields (`%(name)s`, `%s`, `{0}`), HTML tags (`<a href="...">`, `</code>`) and URLs. Left to the
subword model, one link is dozens of pieces that a model trained on a few hundred messages
garbles. With protection, each distinct placeholder of a source becomes a slot token `⟦k⟧`
(k = index of its first occurrence), a single SentencePiece piece; the model learns where the
slots go, and the translation gets the source's exact text back in each slot. Target
placeholders that also occur in the source take that slot, others stay text. This is the
usual placeholder/tag handling of localisation MT; it is not part of the SliceNet paper.

Everything is TensorFlow ops (tensorflow-text's `regex_split`, RE2 syntax), so training data,
Python decoding and the exported `translate` / `score` signatures share one implementation.
Text that already contains `⟦k⟧` is restored like a slot; NUL characters are removed.
"""
from __future__ import annotations

import tensorflow as tf

# Python %-format fields, str.format fields, HTML/XML tags, URLs outside tags.
PATTERN = r"""%\(\w+\)[a-zA-Z]|%[sdifr]|\{\w*\}|<[^<>]+>|https?://[^\s"'<>]+"""
SLOTS = 16  # slot tokens ⟦0⟧..⟦15⟧; a message's 17th distinct placeholder stays text
_SLOT = r"⟦\d{1,4}⟧"


def slot_tokens() -> list[str]:
    return [f"⟦{k}⟧" for k in range(SLOTS)]


def _split(texts, pattern):
    import tensorflow_text as tft  # registers the RE2 split op

    # regex_split stops reading a string at its first NUL, which silently dropped the rest of
    # the message; NUL is no text, so it is removed instead.
    texts = tf.strings.regex_replace(texts, r"\x00", "")
    pieces = tft.regex_split(texts, pattern, keep_delim_regex_pattern=pattern)
    return pieces, tf.ragged.map_flat_values(tf.strings.regex_full_match, pieces, pattern)


def protect(texts, values=None):
    """Strings [B] -> (texts with slots [B], placeholder values: ragged string [B, None]).

    `values` None: the texts are sources; their own placeholders (in order) are the values and
    equal placeholders share the slot of the first. Given `values` (a source's), the texts are
    targets: a placeholder equal to values[b][i] becomes ⟦i⟧ (first such i).
    """
    texts = tf.convert_to_tensor(texts, tf.string)
    pieces, is_ph = _split(texts, PATTERN)
    if values is None:
        values = tf.ragged.boolean_mask(pieces, is_ph)
    # Pieces vs the row's values, dense over the (few) placeholders of a message.
    dense_p = pieces.to_tensor("")
    # One padding column: argmax needs a non-empty axis when no text has a placeholder.
    dense_v = tf.concat([values.to_tensor(""), tf.fill([tf.shape(dense_p)[0], 1], "")], 1)
    v_valid = tf.sequence_mask(values.row_lengths(), tf.shape(dense_v)[1])
    equal = tf.equal(dense_p[:, :, None], dense_v[:, None, :]) & v_valid[:, None, :]
    first = tf.argmax(tf.cast(equal, tf.int32), axis=2, output_type=tf.int32)  # first match
    found = tf.reduce_any(equal, axis=2) & (first < SLOTS)
    slot = tf.strings.join(["⟦", tf.strings.as_string(first), "⟧"])
    dense_out = tf.where(found & is_ph.to_tensor(False), slot, dense_p)
    out = tf.RaggedTensor.from_tensor(dense_out, lengths=pieces.row_lengths())
    return tf.strings.reduce_join(out, axis=1), values


def restore(texts, values):
    """Replace each slot ⟦k⟧ in texts [B] by values[b][k] ("" when the source has no k-th value)."""
    texts = tf.convert_to_tensor(texts, tf.string)
    pieces, is_slot = _split(texts, _SLOT)
    digits = tf.ragged.map_flat_values(tf.strings.regex_replace, pieces, r"[^0-9]", "")
    k = tf.strings.to_number(tf.where(is_slot.flat_values, digits.flat_values, "0"), tf.int64)
    row = pieces.value_rowids()
    n = tf.gather(values.row_lengths(), row)
    # A sentinel "" after the values keeps the gather in range for missing slots.
    table = tf.concat([values.flat_values, [""]], 0)
    index = tf.where(k < n, tf.gather(values.row_starts(), row) + k, tf.size(values.flat_values, tf.int64))
    flat = tf.where(is_slot.flat_values, tf.gather(table, index), pieces.flat_values)
    return tf.strings.reduce_join(pieces.with_flat_values(flat), axis=1)

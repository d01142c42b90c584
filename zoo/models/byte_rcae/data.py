"""Byte pipeline of the recursive convolutional auto-encoder ("Byte-level Recursive
Convolutional Auto-Encoder for Text", §2).

A paragraph of ``l`` bytes gets the end-of-sequence null byte appended and is
padded to ``2**ceil(log2(l + 1))`` (at least 4), so every recursion group can
halve the length down to 4. Padding positions carry ``PAD = -1``:
``tf.one_hot(-1, 256)`` is the all-zero vector the paper pads with, labels are
``max(x, 0)`` and the loss mask is ``x >= 0`` (the paper back-propagates
through valid bytes only, EOS included, §3.2).
"""

from __future__ import annotations

import collections
import re

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from zoo.data.errors import ZooDataError

__all__ = [
    "EOS",
    "PAD",
    "MIN_LENGTH",
    "padded_length",
    "depth_of_length",
    "bucket_lengths",
    "fit_paragraphs",
    "encode_bytes",
    "encode_batch",
    "decode_bytes",
    "to_text",
    "make_dataset",
    "unigram_error",
]

EOS = 0
PAD = -1
MIN_LENGTH = 4  # the encoded representation is 256 features x length 4 (§2)

# Cut preferences for over-long paragraphs, strongest first. Sentence ends are
# cut *after* the terminator so it stays with its sentence.
_SENTENCE_ENDS = (b". ", b"! ", b"? ", "。".encode(), "؟".encode(), "！".encode(), "？".encode())
_WHITESPACE = b" \t\n\r\x0b\x0c"


def padded_length(l: int) -> int:
    """Padded length for ``l`` bytes (EOS not counted): ``max(4, 2**ceil(log2(l+1)))``."""
    if l < 0:
        raise ZooDataError(f"length must be >= 0, got {l}")
    # ceil(log2(l + 1)) == l.bit_length() for integers, without float rounding.
    return max(MIN_LENGTH, 1 << int(l).bit_length())


def _check_power_of_two(length: int, what: str) -> None:
    if length < MIN_LENGTH or length & (length - 1):
        raise ZooDataError(f"{what} must be a power of two >= {MIN_LENGTH}, got {length}")


def depth_of_length(length: int) -> int:
    """Number of recursion-group applications for a padded length: ``log2(L / 4)``."""
    _check_power_of_two(length, "padded length")
    return length.bit_length() - MIN_LENGTH.bit_length()


def bucket_lengths(max_length: int = 1024) -> list[int]:
    """Padded lengths 4, 8, ..., max_length: one bucket per recursion depth."""
    _check_power_of_two(max_length, "max_length")
    return [MIN_LENGTH << d for d in range(depth_of_length(max_length) + 1)]


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _cut_point(p: bytes, pos: int, limit: int, utf8: bool) -> tuple[int, int]:
    """(end of first piece, start of rest), relative to ``pos``, for the rest ``p[pos:]`` of a
    paragraph when it is longer than ``limit``. Every search is bounded to ``limit + 1`` bytes
    after ``pos``, so cutting a paragraph of n bytes costs O(n), not O(n^2 / limit)."""
    window = pos + limit + 1  # a separator right at position `limit` still fits
    i = p.rfind(b"\n", pos, window) - pos
    if i > 0:
        return i, i + 1
    best = -1
    for end in _SENTENCE_ENDS:
        # The terminator itself (without its trailing space) must fit.
        stop = len(end.rstrip())
        j = p.rfind(end, pos, pos + limit - stop + len(end)) - pos
        if j >= 0 and j + stop <= limit:
            best = max(best, j + stop)
    if best > 0:
        return best, best
    i = max(p.rfind(bytes([c]), pos, window) for c in _WHITESPACE) - pos
    if i > 0:
        return i, i + 1
    cut = limit
    if utf8:
        # Back off continuation bytes (10xxxxxx) so no character is split.
        while cut > 0 and 0x80 <= p[pos + cut] <= 0xBF:
            cut -= 1
        if cut == 0:
            cut = limit
    return cut, cut


_LEADING_WHITESPACE = re.compile(b"[" + re.escape(_WHITESPACE) + b"]*")


def _split_paragraph(p: bytes, limit: int) -> list[bytes]:
    """Pieces of at most ``limit`` bytes of a paragraph longer than ``limit`` (see
    :func:`fit_paragraphs`). The rest is tracked as offsets into ``p`` instead of being copied
    after every cut, which made one long paragraph quadratic (10 MB took ~100 s)."""
    utf8 = _is_utf8(p)
    out = []
    pos, stop, trimmed = 0, len(p), len(p.rstrip())
    while stop - pos > limit:
        end, start = _cut_point(p, pos, limit, utf8)
        piece = p[pos:pos + end].strip()
        if piece:
            out.append(piece)
        # The rest is stripped: its leading whitespace and, once, the paragraph's trailing one.
        stop = trimmed
        pos = _LEADING_WHITESPACE.match(p, min(pos + start, stop), stop).end()
    if pos < stop:
        out.append(p[pos:stop])
    return out


def fit_paragraphs(paragraphs, max_length: int = 1024, overflow: str = "split") -> list[bytes]:
    """Make every paragraph fit ``max_length`` bytes including EOS (paper §3.2: up to 1024).

    A paragraph may hold ``max_length - 1`` bytes. ``overflow="split"`` cuts a
    longer one at the last newline, else the last sentence end
    (". " "! " "? " "。" "؟"), else the last whitespace, else at the limit but
    never inside a UTF-8 character when the paragraph is valid UTF-8; pieces
    are stripped and empty ones dropped. ``overflow="reject"`` raises instead.
    Empty paragraphs are skipped. NUL bytes are removed because NUL is the EOS
    byte: left inside a paragraph it would read back as the end of the text.
    """
    if overflow not in ("split", "reject"):
        raise ZooDataError(f"task.overflow must be 'split' or 'reject', got {overflow!r}")
    _check_power_of_two(max_length, "max_length")
    limit = max_length - 1
    out: list[bytes] = []
    for index, p in enumerate(paragraphs):
        if isinstance(p, str):
            p = p.encode("utf-8")
        p = p.replace(b"\0", b"")
        if not p:
            continue
        if len(p) <= limit:
            out.append(p)
            continue
        if overflow == "reject":
            raise ZooDataError(
                f"paragraph {index} has {len(p)} bytes but at most {limit} fit "
                f"(max_length {max_length} includes the EOS byte); "
                f"set task.overflow=split to cut long paragraphs into pieces"
            )
        out.extend(_split_paragraph(p, limit))
    return out


def encode_bytes(paragraph: bytes | str, length: int | None = None) -> np.ndarray:
    """int32 ids: the bytes, then EOS (0), then PAD (-1) up to ``length``.

    ``length`` defaults to :func:`padded_length`; a given length must leave
    room for the EOS byte.
    """
    if isinstance(paragraph, str):
        paragraph = paragraph.encode("utf-8")
    n = len(paragraph)
    if length is None:
        length = padded_length(n)
    elif length < n + 1:
        raise ZooDataError(f"length {length} is too short for {n} bytes plus EOS")
    ids = np.full(length, PAD, dtype=np.int32)
    ids[:n] = np.frombuffer(paragraph, dtype=np.uint8)
    ids[n] = EOS
    return ids


def encode_batch(paragraphs, length: int | None = None) -> np.ndarray:
    """[B, L] int32 ids, L = the largest padded length in the batch (or ``length``)."""
    paragraphs = [p.encode("utf-8") if isinstance(p, str) else p for p in paragraphs]
    if not paragraphs:
        raise ZooDataError("cannot encode an empty batch")
    if length is None:
        length = max(padded_length(len(p)) for p in paragraphs)
    return np.stack([encode_bytes(p, length) for p in paragraphs])


def decode_bytes(ids_or_byte_predictions) -> bytes:
    """Bytes up to the first EOS (0) or PAD (-1).

    Accepts ids of shape [L] or per-position byte scores of shape [L, 256]
    (probabilities or logits; the argmax is taken).
    """
    a = np.asarray(ids_or_byte_predictions)
    if a.ndim == 2 and a.shape[-1] == 256:
        a = a.argmax(axis=-1)
    if a.ndim != 1:
        raise ZooDataError(f"expected ids [L] or byte scores [L, 256], got shape {a.shape}")
    a = a.astype(np.int64)
    stop = np.flatnonzero(a <= EOS)
    if stop.size:
        a = a[: stop[0]]
    if a.size and a.max() > 255:
        raise ZooDataError(f"byte ids must be in 0..255, got {int(a.max())}")
    return a.astype(np.uint8).tobytes()


def to_text(b: bytes) -> str:
    """Printable text for bytes that may be invalid UTF-8 (bad bytes become U+FFFD)."""
    return b.decode("utf-8", errors="replace")


def make_dataset(
    paragraphs,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    repeat: bool = False,
    max_length: int = 1024,
    bytes_per_batch: int | None = None,
    drop_remainder: bool = False,
):
    """``tf.data.Dataset`` of int32 [B, L] batches bucketed by recursion depth (paper §2).

    Each row is a paragraph's bytes, EOS, then PAD (-1) up to the bucket length
    L in :func:`bucket_lengths` ``(max_length)``. One bucket per depth means
    every batch runs the recursion groups the same number of times. A batch
    holds ``batch_size`` rows (the global batch; a distribution strategy splits
    it), or, with ``bytes_per_batch``, ``max(1, bytes_per_batch // L)`` rows so
    short paragraphs get large batches. The last batch of a bucket may be
    smaller. Paragraphs longer than ``max_length - 1`` bytes are an error
    (use :func:`fit_paragraphs` first).

    Paragraphs are shuffled with ``seed`` before bucketing (reshuffled every
    epoch) and the batch order is shuffled again a little after, so buckets
    interleave. With ``repeat=False`` one pass yields every paragraph once.

    ``drop_remainder=True`` drops each bucket's last partial batch, so every batch of a bucket
    has one shape and a training step is traced once per bucket, not once per leftover size;
    the pass's reshuffle puts the dropped paragraphs into full batches in later passes.
    """
    if batch_size < 1:
        raise ZooDataError(f"batch_size must be >= 1, got {batch_size}")
    paragraphs = fit_paragraphs(paragraphs, max_length, overflow="reject")
    if not paragraphs:
        raise ZooDataError("no usable paragraph to build a dataset from")
    lengths = bucket_lengths(max_length)
    if bytes_per_batch is None:
        sizes = [batch_size] * len(lengths)
    else:
        sizes = [max(1, bytes_per_batch // L) for L in lengths]
    bucket_len = tf.constant(lengths, tf.int64)
    bucket_size = tf.constant(sizes, tf.int64)
    splitter = tf_text.ByteSplitter()  # raw bytes, no UTF-8 validation

    def to_ids(text):
        ids = tf.cast(splitter.split(text), tf.int32)
        return tf.concat([ids, tf.constant([EOS], tf.int32)], axis=0)

    def depth(ids):
        # First bucket whose length holds bytes + EOS.
        n = tf.cast(tf.shape(ids)[0], tf.int64)
        return tf.reduce_sum(tf.cast(bucket_len < n, tf.int64))

    def batch_bucket(key, window):
        return window.padded_batch(
            tf.gather(bucket_size, key),
            padded_shapes=tf.reshape(tf.gather(bucket_len, key), [1]),
            padding_values=tf.constant(PAD, tf.int32),
            drop_remainder=drop_remainder,
        )

    ds = tf.data.Dataset.from_tensor_slices(tf.constant(paragraphs, dtype=tf.string))
    if shuffle:
        ds = ds.shuffle(len(paragraphs), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        # Before bucketing, so windows fill across epochs instead of emitting
        # a ragged tail batch per bucket every epoch.
        ds = ds.repeat()
    ds = ds.map(to_ids, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.group_by_window(
        key_func=depth,
        reduce_func=batch_bucket,
        window_size_func=lambda key: tf.gather(bucket_size, key),
    )
    if shuffle:
        ds = ds.shuffle(16, seed=seed + 1, reshuffle_each_iteration=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def unigram_error(train_paragraphs, test_paragraphs) -> float:
    """Byte error of always predicting train's most frequent byte, on test.

    Positions are the real bytes plus one EOS per paragraph, the same positions
    the auto-encoder's byte error is measured on (§3.2), so this is the
    trivial baseline its error should beat by far.
    """
    counts: collections.Counter = collections.Counter()
    for p in train_paragraphs:
        counts.update(p)
    counts[EOS] += len(train_paragraphs)
    if not counts:
        raise ZooDataError("unigram_error needs at least one training paragraph")
    top = counts.most_common(1)[0][0]
    total = sum(len(p) + 1 for p in test_paragraphs)
    if total == 0:
        raise ZooDataError("unigram_error needs at least one test paragraph")
    hits = sum(p.count(top) for p in test_paragraphs) + (len(test_paragraphs) if top == EOS else 0)
    return 1.0 - hits / total

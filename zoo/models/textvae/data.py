"""Fixed-length byte windows for the text VAEs (Semeniuta's dissertation §5.5: "fixed-size
fragments of text" of a given length, taken at random positions of the corpus).

A split of the corpus (documents, split by content hash: `zoo.data.split_paragraphs`) is one byte
stream, its documents joined by newlines. A window is `length` bytes from a random position; with
`min_length` below `length` each window keeps a random number of bytes in [min_length, length]
and the rest is END (0, the NUL byte, which text never holds here), so the model also learns where
a shorter text ends, and a client can feed any text up to `length` bytes padded with END.
"""
from __future__ import annotations

import numpy as np

from zoo.data.errors import ZooDataError

END = 0


def byte_stream(documents) -> np.ndarray:
    """uint8 stream of the documents (str or bytes) joined by newlines, NUL bytes removed."""
    parts = [d.encode("utf-8") if isinstance(d, str) else bytes(d) for d in documents]
    data = b"\n".join(p.replace(b"\0", b"") for p in parts if p)
    return np.frombuffer(data, np.uint8)


def random_windows(stream: np.ndarray, count: int, length: int, rng: np.random.Generator,
                   min_length: int | None = None) -> np.ndarray:
    """int32 [count, length]: windows at uniformly random positions of `stream`, each cut to a
    random length in [min_length, length] (None: always `length`) and padded with END."""
    n = len(stream)
    if n < length:
        raise ZooDataError(f"the text has {n} bytes, fewer than one window of {length}; "
                           f"use more data or a shorter task.length")
    starts = rng.integers(0, n - length + 1, size=count)
    windows = stream[starts[:, None] + np.arange(length)[None]].astype(np.int32)
    if min_length is not None and min_length < length:
        keep = rng.integers(min_length, length + 1, size=count)
        windows[np.arange(length)[None] >= keep[:, None]] = END
    return windows


def unigram_baselines(train_stream: np.ndarray, test_ids: np.ndarray, length: int,
                      min_length: int | None = None) -> dict[str, float]:
    """The trivial baselines of a window's reconstruction, from a model that ignores its input: a
    unigram over the 256 ids (END included) estimated on the training stream and scored on every
    position of the test windows, as the VAE's `char_error` and `bits_per_char` are.

    `unigram_baseline_error` always predicts the most frequent id; `unigram_bits_per_char` is the
    cross-entropy in bits (add-one smoothing, so a byte unseen in training costs a finite amount).
    With `min_length`, END's share of a window is its expectation, (length - min_length) / 2 of
    `length` positions (kept bytes uniform in [min_length, length]), the bytes' shares scaled to
    the rest.
    """
    counts = np.bincount(np.asarray(train_stream, np.int64), minlength=256)[:256].astype(np.float64)
    counts[END] = 0.0
    p = (counts + 1.0) / (counts.sum() + 256.0)
    if min_length is not None and min_length < length:
        end = (length - min_length) / (2.0 * length)
        p = p * (1.0 - end)
        p[END] += end
    ids = np.asarray(test_ids, np.int64).ravel()
    if ids.size == 0:
        raise ZooDataError("unigram_baselines needs at least one test window")
    return {"unigram_baseline_error": float(np.mean(ids != int(np.argmax(p)))),
            "unigram_bits_per_char": float(-np.mean(np.log2(p[ids])))}


def encode_text(text: bytes | str, length: int) -> np.ndarray:
    """int32 [length]: the text's bytes padded with END; a ZooDataError if it is longer, or
    holds a NUL byte (END would cut it there)."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if len(data) > length:
        raise ZooDataError(f"text is {len(data)} bytes long but the model reads windows of {length} bytes")
    if b"\0" in data:
        raise ZooDataError(f"text contains a NUL byte at position {data.index(0)}; NUL ends a text "
                           f"for this model and cannot appear inside one")
    ids = np.full(length, END, np.int32)
    ids[:len(data)] = np.frombuffer(data, np.uint8)
    return ids


def decode_ids(ids) -> bytes:
    """The bytes of a row of ids up to the first END."""
    a = np.asarray(ids).astype(np.int64).ravel()
    stop = np.flatnonzero(a == END)
    if stop.size:
        a = a[: stop[0]]
    return np.clip(a, 0, 255).astype(np.uint8).tobytes()


def to_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")

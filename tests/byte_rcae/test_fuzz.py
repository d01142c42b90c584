"""Property-based tests (hypothesis) of the byte pipeline ("Byte-level Recursive Convolutional
Auto-Encoder for Text", §2: bytes, EOS, padding to a power of two; §3.2: the loss mask); the
placeholder protection of SliceNet translation is fuzzed in tests/slicenet/test_fuzz.py.

Everything runs at the numpy / eager level: no graph is traced per example."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo.models.byte_rcae.data import (
    EOS,
    MIN_LENGTH,
    PAD,
    _SENTENCE_ENDS,
    _is_utf8,
    bucket_lengths,
    decode_bytes,
    depth_of_length,
    encode_batch,
    encode_bytes,
    fit_paragraphs,
    padded_length,
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Byte strings rich in what the splitter looks at: newlines, sentence ends, whitespace of every
# kind, multi-byte UTF-8 characters, NUL (the EOS byte) and arbitrary bytes.
_PIECES = [b"a", b"word", b"xyz" * 5, b" ", b"  ", b"\t", b"\n", b"\r", b"\x0b", b"\x0c", b". ", b"! ",
           b"? ", b".", "。".encode(), "؟".encode(), "！".encode(), "？".encode(), "é".encode(),
           "数据".encode(), "😀".encode(), b"\0", b"\xff", b"\x80", b"\xc3"]
structured = st.lists(st.one_of(st.sampled_from(_PIECES), st.binary(max_size=3)), max_size=80).map(b"".join)
any_bytes = st.one_of(structured, st.binary(max_size=300))


# -- the splitter before it was made linear: the reference for its output ---------------------
def _reference_cut_point(p, limit, utf8):
    head = p[: limit + 1]
    i = head.rfind(b"\n")
    if i > 0:
        return i, i + 1
    best = -1
    for end in _SENTENCE_ENDS:
        stop = len(end.rstrip())
        j = p.rfind(end, 0, limit - stop + len(end))
        if j >= 0 and j + stop <= limit:
            best = max(best, j + stop)
    if best > 0:
        return best, best
    i = max(head.rfind(bytes([c])) for c in b" \t\n\r\x0b\x0c")
    if i > 0:
        return i, i + 1
    cut = limit
    if utf8:
        while cut > 0 and 0x80 <= p[cut] <= 0xBF:
            cut -= 1
        if cut == 0:
            cut = limit
    return cut, cut


def _reference_fit(paragraphs, max_length):
    """The quadratic algorithm (copies the rest after every cut), kept verbatim as the spec."""
    limit, out = max_length - 1, []
    for p in paragraphs:
        p = p.replace(b"\0", b"")
        if not p:
            continue
        if len(p) <= limit:
            out.append(p)
            continue
        utf8 = _is_utf8(p)
        while len(p) > limit:
            end, start = _reference_cut_point(p, limit, utf8)
            piece = p[:end].strip()
            if piece:
                out.append(piece)
            p = p[start:].strip()
        if p:
            out.append(p)
    return out


@FUZZ
@given(st.lists(any_bytes, max_size=4), st.sampled_from([4, 8, 16, 32, 64]))
def test_linear_splitter_equals_the_reference(paragraphs, max_length):
    pieces = fit_paragraphs(paragraphs, max_length, overflow="split")
    assert pieces == _reference_fit(paragraphs, max_length)
    assert all(0 < len(p) < max_length and b"\0" not in p for p in pieces)


def test_a_long_paragraph_splits_without_copying_the_rest():
    # 2 MB in one paragraph; the old splitter took ~3.5 s here, this one well under a second
    # (benchmarks/bench_split.py times 10 MB). No timing assert: only the output is checked.
    rng = np.random.default_rng(0)
    words = [b"word", b"Sentence.", b"ends!", "数据".encode(), b"\n", b"abcdefghijklmnop"]
    p = b" ".join(words[i] for i in rng.integers(0, len(words), 300_000))[:2_000_000]
    pieces = fit_paragraphs([p], 1024)
    assert all(0 < len(x) <= 1023 for x in pieces)
    ws = bytes.maketrans(b"", b"")
    assert b"".join(pieces).translate(ws, b" \t\n\r\x0b\x0c") == p.translate(ws, b" \t\n\r\x0b\x0c")


# -- encoding invariants ---------------------------------------------------------------------
@FUZZ
@given(any_bytes)
def test_encoding_has_eos_then_padding_and_round_trips(b):
    b = b.replace(b"\0", b"")  # NUL is the EOS byte (fit_paragraphs removes it)
    ids = encode_bytes(b)
    L = padded_length(len(b))
    assert ids.dtype == np.int32 and ids.shape == (L,)
    assert L >= MIN_LENGTH and L & (L - 1) == 0 and L // 2 <= max(len(b), MIN_LENGTH // 2) < L
    assert ids[: len(b)].tolist() == list(b) and ids[len(b)] == EOS and (ids[len(b) + 1:] == PAD).all()
    mask = ids >= 0  # the loss mask (§3.2): the bytes and EOS, never padding
    assert mask.sum() == len(b) + 1 and mask[: len(b) + 1].all()
    labels = np.maximum(ids, 0)
    assert (labels[mask] == ids[mask]).all() and (labels[~mask] == 0).all()
    assert decode_bytes(ids) == b
    # As byte scores: one-hot of the ids (padding rows all zero) decodes the same.
    scores = np.zeros((L, 256), np.float32)
    scores[np.arange(len(b) + 1), ids[: len(b) + 1]] = 1.0
    assert decode_bytes(scores) == b
    d = depth_of_length(L)
    assert MIN_LENGTH << d == L and L in bucket_lengths(max(L, 1024))


@FUZZ
@given(st.lists(any_bytes, min_size=1, max_size=6))
def test_batches_pad_to_the_longest_and_keep_every_row(paragraphs):
    paragraphs = [p.replace(b"\0", b"") for p in paragraphs]
    batch = encode_batch(paragraphs)
    assert batch.shape == (len(paragraphs), max(padded_length(len(p)) for p in paragraphs))
    for row, p in zip(batch, paragraphs):
        assert decode_bytes(row) == p
        assert (row == EOS).sum() == 1 and (row[len(p) + 1:] == PAD).all()


def test_dataset_buckets_by_depth_and_keeps_every_paragraph():
    """One tf.data pipeline over 300 random paragraphs (one pipeline, not one per example):
    every paragraph comes out once, in the bucket of its own padded length, EOS-terminated and
    padded with -1."""
    from zoo.models.byte_rcae.data import make_dataset

    rng = np.random.default_rng(0)
    raw = [b"".join(_PIECES[i] for i in rng.integers(0, len(_PIECES), rng.integers(0, 40)))
           for _ in range(300)]
    kept = fit_paragraphs(raw, 64, overflow="split")
    seen = []
    for batch in make_dataset(kept, batch_size=7, max_length=64, seed=1).as_numpy_iterator():
        for row in batch:
            p = decode_bytes(row)
            assert row.shape[0] == padded_length(len(p))  # the bucket of its depth
            assert row[len(p)] == EOS and (row[len(p) + 1:] == PAD).all()
            seen.append(p)
    assert sorted(seen) == sorted(kept) and len(kept) > 250

"""Tests of the byte autoencoder's byte pipeline ("Byte-level Recursive Convolutional Auto-Encoder
for Text", §2, §3.1): lengths, encoding, batches, fitting paragraphs, the unigram baseline."""

import collections
import re

import numpy as np
import pytest

from zoo.data import (
    ZooDataError,
    load_corpus,
    split_paragraphs,
)
from zoo.models.byte_rcae.data import (
    EOS,
    PAD,
    bucket_lengths,
    decode_bytes,
    depth_of_length,
    encode_batch,
    encode_bytes,
    fit_paragraphs,
    make_dataset,
    padded_length,
    to_text,
    unigram_error,
)

ARABIC = re.compile("[\u0600-\u06ff]")
CJK = re.compile("[\u4e00-\u9fff]")
WS = re.compile(rb"[ \t\n\r\x0b\x0c]")


def _strip_ws(b: bytes) -> bytes:
    return WS.sub(b"", b)


# -- lengths -----------------------------------------------------------------


@pytest.mark.parametrize(
    "l, expected",
    [(0, 4), (1, 4), (3, 4), (4, 8), (7, 8), (8, 16), (15, 16), (16, 32), (511, 512), (512, 1024), (1023, 1024)],
)
def test_padded_length_table(l, expected):
    assert padded_length(l) == expected


def test_depths_and_buckets():
    assert [depth_of_length(L) for L in (4, 8, 16, 1024)] == [0, 1, 2, 8]
    assert bucket_lengths(1024) == [4, 8, 16, 32, 64, 128, 256, 512, 1024]
    assert bucket_lengths(4) == [4]
    for bad in (3, 6, 1000):
        with pytest.raises(ZooDataError, match=str(bad)):
            bucket_lengths(bad)


# -- encode / decode -----------------------------------------------------------


@pytest.mark.parametrize("text", [b"", b"abc", b"abcd", b"\xff\xfeab", "سلام 你好".encode()])
def test_encode_decode_round_trip(text):
    ids = encode_bytes(text)
    assert ids.dtype == np.int32
    assert len(ids) == padded_length(len(text))
    assert list(ids[: len(text)]) == list(text)
    assert ids[len(text)] == EOS
    assert (ids[len(text) + 1 :] == PAD).all()
    assert decode_bytes(ids) == text
    # Byte predictions [L, 256] decode through their argmax.
    scores = np.eye(256, dtype=np.float32)[np.maximum(ids, 0)]
    assert decode_bytes(scores) == text


def test_encode_str_length_and_batch():
    assert list(encode_bytes("é", length=6)) == [0xC3, 0xA9, 0, -1, -1, -1]
    with pytest.raises(ZooDataError, match="too short"):
        encode_bytes(b"abcd", length=4)
    batch = encode_batch([b"a", b"x" * 9, "hé"])
    assert batch.shape == (3, 16)
    assert [decode_bytes(r) for r in batch] == [b"a", b"x" * 9, "hé".encode()]
    assert to_text(b"\xffok") == "\ufffdok"


# -- dataset --------------------------------------------------------------------


def _paragraphs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    out = [b"\xff\xfe invalid utf8 \xc3", "مرحبا بالعالم".encode(), "你好，世界。".encode(), b"x"]
    while len(out) < n:
        k = int(rng.integers(1, 400))
        out.append(bytes(rng.integers(1, 256, size=k, dtype=np.uint8)))
    return out


def _check_batches(ds, paragraphs, max_rows=None):
    buckets = set(bucket_lengths(1024))
    seen = collections.Counter()
    batches = 0
    for batch in ds:
        batch = batch.numpy()
        assert batch.dtype == np.int32 and batch.ndim == 2
        B, L = batch.shape
        assert L in buckets
        if max_rows is not None:
            assert 1 <= B <= max_rows(L)
        for row in batch:
            p = decode_bytes(row)
            n = len(p)
            assert padded_length(n) == L  # each row is in its own depth's bucket
            assert np.flatnonzero(row == EOS).tolist() == [n]  # exactly one EOS, right after the bytes
            assert (row[n + 1 :] == PAD).all() and (row[:n] >= 1).all()
            seen[p] += 1
        batches += 1
    assert seen == collections.Counter(paragraphs)  # every paragraph exactly once per epoch
    return batches


def test_dataset_buckets_and_epoch():
    paragraphs = _paragraphs()
    _check_batches(make_dataset(paragraphs, 8, seed=3), paragraphs, max_rows=lambda L: 8)
    # Unshuffled too: the same content, each once.
    _check_batches(make_dataset(paragraphs, 8, shuffle=False), paragraphs, max_rows=lambda L: 8)


def test_dataset_bytes_per_batch_and_repeat():
    paragraphs = _paragraphs(200, seed=1)
    ds = make_dataset(paragraphs, 8, bytes_per_batch=1024, seed=5)
    _check_batches(ds, paragraphs, max_rows=lambda L: max(1, 1024 // L))
    rows = sum(int(b.shape[0]) for b in make_dataset(paragraphs, 8, repeat=True).take(80))
    assert rows > len(paragraphs)  # went past one epoch


def test_dataset_seeded_order_is_reproducible():
    paragraphs = _paragraphs(100, seed=2)
    first = [b.numpy().tolist() for b in make_dataset(paragraphs, 4, seed=7)]
    again = [b.numpy().tolist() for b in make_dataset(paragraphs, 4, seed=7)]
    assert first == again


def test_dataset_rejects_overlong_paragraph():
    with pytest.raises(ZooDataError, match="task.overflow=split"):
        make_dataset([b"a" * 64], 2, max_length=64)


# -- fit_paragraphs ---------------------------------------------------------------


def _check_fit(paragraphs, max_length):
    pieces = fit_paragraphs(paragraphs, max_length, overflow="split")
    assert all(0 < len(p) <= max_length - 1 for p in pieces)
    assert _strip_ws(b"".join(pieces)) == _strip_ws(b"".join(paragraphs))
    return pieces


def test_fit_split_prefers_boundaries():
    text = b"First line here.\nSecond sentence one. Second sentence two! And a third, long one."
    pieces = _check_fit([text], 32)
    assert pieces[0] == b"First line here."  # cut at the newline
    assert b"Second sentence one." in pieces  # then at a sentence end
    words = _check_fit([b"word " * 100], 16)
    assert all(p.endswith(b"word") for p in words)  # whitespace cuts keep words whole


def test_fit_split_never_breaks_utf8():
    chinese = ("数据" * 300).encode()  # no separators at all, 3-byte characters
    arabic = ("كلمة" * 200).encode()
    for text in (chinese, arabic):
        pieces = _check_fit([text], 64)
        for p in pieces:
            p.decode("utf-8")  # raises if a character was cut
    cjk_sentences = ("这是一个句子。" * 40).encode()
    assert all(p.endswith("。".encode()) for p in _check_fit([cjk_sentences], 64)[:-1])
    # Invalid UTF-8 is cut anywhere but keeps every byte.
    _check_fit([bytes(range(128, 256)) * 5], 32)


def test_fit_reject_and_options():
    ok = fit_paragraphs([b"", b"short", b"a\0b"], 8, overflow="reject")
    assert ok == [b"short", b"ab"]  # empty skipped, NUL (the EOS byte) removed
    with pytest.raises(ZooDataError, match=r"paragraph 1 has 20 bytes.*at most 7.*task\.overflow=split"):
        fit_paragraphs([b"ok", b"x" * 20], 8, overflow="reject")
    with pytest.raises(ZooDataError, match="overflow"):
        fit_paragraphs([b"x"], 8, overflow="truncate")


# -- the unigram baseline ---------------------------------------------------------------


def test_unigram_error():
    # Most frequent in train is "a" (5 of 9 positions incl. 2 EOS).
    train = [b"aab", b"aaa"]
    test = [b"abc", b"aa"]  # positions: a b c EOS a a EOS -> 3 hits of 7
    assert unigram_error(train, test) == pytest.approx(1 - 3 / 7)
    assert 0.5 < unigram_error(*split_paragraphs(load_corpus("english"))) < 1.0

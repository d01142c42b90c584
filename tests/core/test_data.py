"""Tests of the shared data layer (corpora read where pip put them, splits) and of the byte
autoencoder's byte pipeline ("Byte-level Recursive Convolutional Auto-Encoder for Text", §2, §3.1)."""

import collections
import hashlib
import re

import numpy as np
import pytest

from zoo.data import (
    ZooDataError,
    available_corpora,
    corpus_info,
    load_corpus,
    load_paragraphs,
    parse_po,
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


# -- split ----------------------------------------------------------------------


def _blake_fraction(p: bytes) -> float:
    return int.from_bytes(hashlib.blake2b(p).digest()[:8], "big") / 2**64


def test_split_deterministic_disjoint_complete():
    items = [f"paragraph number {i}".encode() for i in range(2000)]
    train, test = split_paragraphs(items, 0.1)
    assert (train, test) == split_paragraphs(items, 0.1)
    assert not set(train) & set(test)
    assert sorted(train + test) == sorted(items)
    assert 0.07 < len(test) / len(items) < 0.13
    # Each side is decided by the paragraph alone, so reordering changes nothing.
    train_r, test_r = split_paragraphs(items[::-1], 0.1)
    assert set(train_r) == set(train) and set(test_r) == set(test)


def test_split_matches_documented_hash():
    samples = [b"hello world", "مرحبا".encode(), "你好".encode(), b"\xff\xfe"]
    fraction = 0.5
    train, test = split_paragraphs(samples, fraction)
    for p in samples:
        assert (p in test) == (_blake_fraction(p) < fraction)
    with pytest.raises(ZooDataError):
        split_paragraphs(samples, 1.5)


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


# -- corpora ----------------------------------------------------------------------


def test_builtin_corpora():
    english, arabic, chinese = load_corpus("english"), load_corpus("arabic"), load_corpus("chinese")
    assert len(english) > 1000 and len(arabic) > 5000 and len(chinese) > 500
    for corpus in (english, arabic, chinese):
        assert len(set(corpus)) == len(corpus)  # deduplicated
        assert all(p == p.strip() and p for p in corpus)
    assert sum(bool(ARABIC.search(p.decode())) for p in arabic) == len(arabic)
    assert sum(bool(CJK.search(p.decode())) for p in chinese) > len(chinese) // 2
    assert any(b"assert" in p for p in english)
    mixed = load_corpus("mixed")
    assert set(mixed) == set(english) | set(arabic) | set(chinese)
    assert mixed == load_corpus("mixed") and mixed[:50] != (english + arabic + chinese)[:50]
    info = corpus_info("arabic")
    assert info["paragraphs"] == len(arabic) and info["bytes"] == sum(map(len, arabic))
    assert info["sources"][0].endswith("quran-uthmani.xml")


def test_django_and_multilingual_corpora():
    names = available_corpora()
    assert {"english", "arabic", "chinese", "mixed", "multilingual", "django:fr", "django:zh_Hans"} <= set(names)
    french = load_corpus("django:fr")
    assert len(french) > 300 and any("é".encode() in p for p in french)
    multi = load_corpus("multilingual")
    assert set(french) <= set(multi) and len(multi) > 20000
    assert all(s.endswith(".po") for s in corpus_info("django:fr")["sources"])
    with pytest.raises(ZooDataError, match="xx_YY"):
        load_corpus("django:xx_YY")


# -- user text ----------------------------------------------------------------------


def test_load_paragraphs_from_file_folder_glob(tmp_path):
    a = tmp_path / "a.txt"
    a.write_bytes(b"first para\nstill first\n\n \t\nsecond \xff\xfe\r\n\r\nthird\n\n\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "b.txt").write_bytes(b"from b")
    assert load_paragraphs(str(a)) == [b"first para\nstill first", b"second \xff\xfe", b"third"]
    assert load_paragraphs(str(tmp_path)) == [b"first para\nstill first", b"second \xff\xfe", b"third", b"from b"]
    assert load_paragraphs(str(tmp_path / "**" / "*.txt")) == load_paragraphs(str(tmp_path))
    assert load_paragraphs(str(sub / "?.txt")) == [b"from b"]
    assert load_paragraphs("english") == load_corpus("english")


def test_load_paragraphs_jsonl(tmp_path):
    f = tmp_path / "data.jsonl"
    f.write_text('{"text": "héllo", "body": "one"}\n\n{"text": "  two  ", "body": "b2"}\n', encoding="utf-8")
    assert load_paragraphs(str(f)) == ["héllo".encode(), b"two"]
    assert load_paragraphs(str(f), field="body") == [b"one", b"b2"]


def test_load_paragraphs_errors(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(ZooDataError, match=re.escape(str(missing))):
        load_paragraphs(str(missing))
    with pytest.raises(ZooDataError, match=r"glob .*\*\.md.* matches no file"):
        load_paragraphs(str(tmp_path / "*.md"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{not json}\n')
    with pytest.raises(ZooDataError, match=re.escape(f"{bad}:2") + ".*not valid JSON"):
        load_paragraphs(str(bad))
    nofield = tmp_path / "nofield.jsonl"
    nofield.write_text('{"text": "ok"}\n{"text": "ok"}\n{"other": 1}\n')
    with pytest.raises(ZooDataError, match=re.escape(f"{nofield}:3") + ".*'text' is missing"):
        load_paragraphs(str(nofield))
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"\n  \n\t\n")
    with pytest.raises(ZooDataError, match=re.escape(f"corpus '{empty}' has no usable paragraph")):
        load_paragraphs(str(empty))
    with pytest.raises(ZooDataError, match="unknown corpus 'klingon'.*english.*multilingual"):
        load_paragraphs("klingon")


# -- .po parser and baseline ---------------------------------------------------------------

PO = r'''# header comment
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"

#: somewhere.py:1
msgid "Hello"
msgstr "Bonjour"

#, fuzzy
msgid "Maybe"
msgstr "Peut-être"

msgctxt "month"
msgid "May"
msgstr "mai"

msgid "one file"
msgid_plural "%d files"
msgstr[0] "un fichier"
msgstr[1] ""
"%d fichiers"

msgid "Untranslated"
msgstr ""

#, python-format
msgid "Escapes"
msgstr "tab\there \"quoted\" back\\slash\n"
"line two"

#~ msgid "Obsolete"
#~ msgstr "Obsolète"
'''


def test_parse_po(tmp_path):
    path = tmp_path / "django.po"
    path.write_text(PO, encoding="utf-8")
    entries = parse_po(path)
    assert [e.msgid for e in entries] == ["Hello", "May", "one file", "Escapes"]
    hello, may, plural, escapes = entries
    assert hello.msgstrs == ["Bonjour"] and hello.context is None and not hello.fuzzy
    assert may.context == "month" and may.msgstrs == ["mai"]
    assert plural.msgid_plural == "%d files" and plural.msgstrs == ["un fichier", "%d fichiers"]
    assert escapes.msgstrs == ['tab\there "quoted" back\\slash\nline two']
    assert escapes.flags == ("python-format",)
    everything = parse_po(path, include_header=True, include_fuzzy=True, include_untranslated=True)
    assert [e.msgid for e in everything] == ["", "Hello", "Maybe", "May", "one file", "Untranslated", "Escapes"]
    assert everything[2].fuzzy
    broken = tmp_path / "broken.po"
    broken.write_text('msgid "a"\nmsgstr "b"\nnonsense here\n', encoding="utf-8")
    with pytest.raises(ZooDataError, match=re.escape(f"{broken}:3")):
        parse_po(broken)


def test_unigram_error():
    # Most frequent in train is "a" (5 of 9 positions incl. 2 EOS).
    train = [b"aab", b"aaa"]
    test = [b"abc", b"aa"]  # positions: a b c EOS a a EOS -> 3 hits of 7
    assert unigram_error(train, test) == pytest.approx(1 - 3 / 7)
    assert 0.5 < unigram_error(*split_paragraphs(load_corpus("english"))) < 1.0


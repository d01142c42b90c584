"""Tests of the shared data layer: corpora read where pip put them, splits, user text, the .po
parser. (The byte autoencoder's byte pipeline: tests/byte_rcae/test_byte_data.py.)"""

import hashlib
import re

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

ARABIC = re.compile("[\u0600-\u06ff]")
CJK = re.compile("[\u4e00-\u9fff]")


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


# -- .po parser ---------------------------------------------------------------

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

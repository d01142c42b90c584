"""SliceNet data: Django EN->X pairs, user TSV / aligned files, deterministic split, SentencePiece
(trained with `sentencepiece`, applied with tensorflow-text) and byte vocabularies."""
import numpy as np
import pytest

from zoo.data.errors import ZooDataError
from zoo.models.slicenet.data import (ByteVocabulary, build_vocabulary, django_pairs, file_pairs,
                                      load_pairs, split_pairs)
from zoo.models.slicenet.model import EOS, GO, NUM_SPECIAL


@pytest.fixture(scope="module")
def de():
    return django_pairs(["de"])


def test_django_pairs_are_clean_and_deduplicated(de):
    assert len(de) > 500
    assert len(set(de)) == len(de)
    assert all(p.source and p.target and p.language == "de" for p in de)
    assert all("\n" not in p.source + p.target for p in de)
    sources = {p.source: p.target for p in de}
    assert sources.get("Arabic") == "Arabisch"


def test_unknown_language_and_empty_list_are_clear_errors():
    with pytest.raises(ZooDataError, match="no translations for language 'xx_nope'.*known"):
        django_pairs(["xx_nope"])
    with pytest.raises(ZooDataError, match="languages is empty"):
        django_pairs([])


def test_split_is_deterministic_and_source_disjoint(de):
    two = django_pairs(["de", "fr"])
    train, test = split_pairs(two, 0.1)
    assert split_pairs(two, 0.1) == (train, test)
    assert 0.05 < len(test) / len(two) < 0.15
    assert not {p.source for p in train} & {p.source for p in test}


def test_tsv_and_aligned_files(tmp_path):
    tsv = tmp_path / "c.tsv"
    tsv.write_text("Hello\tHallo\nHello\tHallo\n\nGood  day\t Guten Tag \tde\nx\t\n", encoding="utf-8")
    pairs = file_pairs(tsv, language="xx")
    assert [(p.source, p.target, p.language) for p in pairs] == [("Hello", "Hallo", "xx"), ("Good day", "Guten Tag", "de")]
    bad = tmp_path / "bad.tsv"
    bad.write_text("only one column\n")
    with pytest.raises(ZooDataError, match="bad.tsv:1"):
        file_pairs(bad)
    src, tgt = tmp_path / "s.txt", tmp_path / "t.txt"
    src.write_text("a\nb\n")
    tgt.write_text("A\nB\n")
    assert [(p.source, p.target) for p in file_pairs(src, tgt)] == [("a", "A"), ("b", "B")]
    tgt.write_text("A\n")
    with pytest.raises(ZooDataError, match="2 lines but"):
        file_pairs(src, tgt)
    with pytest.raises(ZooDataError, match="not found"):
        file_pairs(tmp_path / "missing.tsv")
    empty = tmp_path / "empty.tsv"
    empty.write_text("\n\n")
    with pytest.raises(ZooDataError, match="no usable"):
        load_pairs(str(empty), {"languages": ["de"]})


def test_sentencepiece_vocabulary_round_trips_through_tensorflow_text(de, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path))
    train, _ = split_pairs(de, 0.1)
    vocab = build_vocabulary("sentencepiece", train, ["de"], 300)
    assert vocab.kind == "sentencepiece" and vocab.size <= 300
    assert list(tmp_path.rglob("*.model"))  # cached for export / eval of the same recipe
    texts = ["Arabic", "Change password", "Das Passwort ist ungültig."]
    ids = vocab.encode(texts)
    assert all(min(row) >= NUM_SPECIAL - 1 for row in ids)  # UNK (2) allowed, never PAD/EOS/GO
    dense = np.zeros((3, max(map(len, ids)) + 2), "int32")
    for i, row in enumerate(ids):
        dense[i, :len(row)] = row
        dense[i, len(row)] = EOS
    assert vocab.decode(dense)[:2] == texts[:2]
    again = build_vocabulary("sentencepiece", train, ["de"], 300)
    assert again.proto == vocab.proto
    with pytest.raises(ZooDataError, match="raise model.vocab_size"):
        build_vocabulary("bytes", train, ["de"], 100)
    with pytest.raises(ZooDataError, match="unknown data.options.tokenizer"):
        build_vocabulary("words", train, ["de"], 300)


def test_byte_vocabulary_and_language_tokens():
    vocab = ByteVocabulary(["de", "fr"])
    text = "Grüße ✓"
    ids = vocab.encode([text])[0]
    assert ids == [b + NUM_SPECIAL for b in text.encode("utf-8")]
    assert vocab.decode(np.array([ids + [EOS, 77]], "int32")) == [text]  # stops at EOS
    assert vocab.size == NUM_SPECIAL + 256 + 2
    assert vocab.start_token("fr") == NUM_SPECIAL + 256 + 1 and vocab.start_token() == NUM_SPECIAL + 256
    assert ByteVocabulary(["de"]).start_token("de") == GO
    with pytest.raises(ZooDataError, match="unknown target language 'es'"):
        vocab.start_token("es")

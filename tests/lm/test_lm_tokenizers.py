"""The language-model family's tokenizers: exact vocabularies, Python == graph ids and strings on
real text (CPython's pydoc topics), lossless round trips, JSON and SavedModel round trips (the
SavedModel read back in a fresh process that imports only TensorFlow / tensorflow-text)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from zoo.models.lm.tokenizers import (EOS, UNK, ByteTokenizer, CharTokenizer, SentencePieceTokenizer, Tokenizer,
                                      WordTokenizer, fit_tokenizer)


@pytest.fixture(scope="module")
def corpus():
    from pydoc_data.topics import topics

    texts = [topics[k] for k in sorted(topics)]
    return texts[:20], texts[20:]


@pytest.fixture(scope="module")
def toks(corpus):
    train, _ = corpus
    return {
        "char": fit_tokenizer("char", train, 60),
        "byte": fit_tokenizer("byte", train, 300),
        "word": fit_tokenizer("word", train, 500),
        "word_lower": fit_tokenizer("word", train, 500, lowercase=True),
        "unigram": fit_tokenizer("sentencepiece", train, 400),
        "bpe": fit_tokenizer("sentencepiece", train, 400, model_type="bpe"),
    }


# Unknown characters and words, non-ASCII, every kind of whitespace Python splits on, PTB's
# literal <unk>, case that lowercases (and the cases where full and simple lowercasing differ).
EXTRA = ["", "\n", "a\n", "\n\nx", "  Hello  WORLD\n\n ☃ 漢字 Straße İ ΟΔΟΣ <unk> <UNK> the",
         "x\x1cy\x85z\xa0w\u3000v\u2028u\tt\r\ns\x0bq\x0cp", "\ufffd\x00 “quoted” — …", "the the THE"]


def _samples(corpus):
    return corpus[1][:8] + EXTRA


def test_char_vocabulary_is_most_frequent_with_ties_by_code_point():
    tok = CharTokenizer.fit(["bbaacdd", "e"], 5)  # a, b, d twice; c, e once
    assert tok.characters == ["a", "b", "d"] and tok.vocab_size == 5
    assert tok.encode("abcdz") == [2, 3, UNK, 4, UNK]
    assert tok.count_unknown("abcdz") == 2
    assert tok.decode([2, 0, 3, UNK, -1, 4]) == "ab\ufffdd"   # EOS and padding carry no text
    assert CharTokenizer.fit(["ab"], 10).vocab_size == 4       # a cap, not a target


def test_word_vocabulary_ptb_unk_and_decoding():
    tok = WordTokenizer.fit(["b a  c\nb a", "<unk> d <unk> <unk>"], 4)   # b, a twice; c, d once
    assert tok.words == ["a", "b"] and tok.vocab_size == 4
    assert tok.encode(" b\tzz\u3000<unk> a ") == [3, UNK, UNK, 2]
    assert tok.count_unknown("b zz <unk> a c") == 3
    assert tok.decode([3, UNK, EOS, 2, -1]) == "b <unk> a"
    lower = WordTokenizer.fit(["The THE the A"], 3, lowercase=True)
    assert lower.words == ["the"] and lower.encode("tHe ThE a") == [2, 2, UNK]
    assert not fit_tokenizer("word", ["The the"], 10).lowercase   # the default keeps case
    assert lower.normalize("  The\n\nCAT  ") == "the cat" and lower.characters("  The\n\nCAT  ") == 7
    assert lower.units("  The\n\nCAT  ") == 12
    # Per-character (simple) lowercasing, identical in the graph: no final sigma, "İ" -> "i".
    greek = WordTokenizer.fit(["ΟΔΟΣ İstanbul"], 10, lowercase=True)
    assert greek.words == ["istanbul", "οδοσ"]
    assert greek.encode("ΟΔΟΣ İSTANBUL οδος") == greek.tf_encode(["ΟΔΟΣ İSTANBUL οδος"]).to_list()[0] == [3, 2, UNK]


def test_python_and_graph_agree_on_real_text(corpus, toks):
    samples = _samples(corpus)
    for name, tok in toks.items():
        ids = [tok.encode(s) for s in samples]
        assert tok.tf_encode(tf.constant(samples)).to_list() == ids, name
        # Padded with the samplers' -1 and with EOS in the middle of a row.
        T = max(map(len, ids)) + 2
        dense = np.full([len(ids), T], -1, np.int32)
        for r, row in enumerate(ids):
            row = row[:3] + [EOS] + row[3:]
            dense[r, :len(row)] = row
        expected = [tok.decode(row) for row in dense]
        assert [s.decode("utf-8") for s in tok.tf_decode(dense).numpy()] == expected, name
        assert [s.decode("utf-8") for s in tok.tf_decode(tok.tf_encode(samples)).numpy()] == [
            tok.decode(i) for i in ids], name
        encode = tf.function(tok.tf_encode, input_signature=[tf.TensorSpec([None], tf.string)])
        decode = tf.function(tok.tf_decode, input_signature=[tf.TensorSpec([None, None], tf.int32)])
        assert encode(tf.constant(samples)).to_list() == ids, name
        assert [s.decode("utf-8") for s in decode(dense).numpy()] == expected, name


def test_round_trips_and_unknowns(corpus, toks):
    train, test = corpus
    char = toks["char"]
    known = set(char.characters)
    text = train[3]
    assert set(text) - known   # 58 characters leave some out
    for name, t in (("char", "".join(c for c in text if c in known)), ("byte", text), ("unigram", text),
                    ("bpe", text)):   # lossless on characters they know
        assert toks[name].decode(toks[name].encode(t)) == t, name
        assert toks[name].count_unknown(t) == 0, name
    odd = test[0] + EXTRA[4]
    assert char.decode(char.encode(odd)) == "".join(c if c in known else "\ufffd" for c in odd)
    assert char.count_unknown(odd) == sum(c not in known for c in odd) > 0
    word = toks["word"]
    vocab = set(word.words)
    assert word.decode(word.encode(odd)) == " ".join(w if w in vocab else "<unk>" for w in odd.split())
    assert word.count_unknown(odd) == sum(w not in vocab for w in odd.split()) > 0
    byte = toks["byte"]
    assert type(byte) is ByteTokenizer and isinstance(byte, CharTokenizer)   # CharTokenizer.fit(bytes=True)
    assert CharTokenizer.fit(train, None, bytes=True).encode("é") == byte.encode("é") == [0xC3 + 2, 0xA9 + 2]
    assert byte.vocab_size == 258
    assert byte.count_unknown(odd) == 0 and byte.decode(byte.encode(odd)) == odd
    assert byte.decode([0xC3 + 2, ord("a") + 2, UNK]) == "\ufffda\ufffd"   # broken UTF-8, like the graph
    sp = toks["unigram"]
    assert sp.decode(sp.encode("x☃y")) == "x\ufffdy" and sp.count_unknown("x☃☃y\n☃") == 2  # a run is one <unk>
    assert sp.encode("ab\n\ncd")[2:4] == [2, 2] and sp.encode("") == []
    for tok in toks.values():
        assert tok.units(odd) == len(odd)
    assert byte.units("é☃") == 2 < len(byte.encode("é☃"))


def test_json_round_trip(corpus, toks):
    samples = _samples(corpus)
    for name, tok in toks.items():
        back = Tokenizer.from_json(json.loads(json.dumps(tok.to_json())))
        assert type(back) is type(tok) and back.vocab_size == tok.vocab_size, name
        assert [back.encode(s) for s in samples] == [tok.encode(s) for s in samples], name
        assert back.decode(list(range(tok.vocab_size))) == tok.decode(list(range(tok.vocab_size))), name
    assert Tokenizer.from_json(toks["bpe"].to_json()).model == toks["bpe"].model
    assert toks["bpe"].to_json()["model_type"] == "bpe" and toks["unigram"].to_json()["model_type"] == "unigram"


def test_sentencepiece_training_is_deterministic_and_leaves_no_file(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    train = corpus[0][:6]
    a = SentencePieceTokenizer.fit(train, 200)
    b = fit_tokenizer("sentencepiece", iter(train), 200)
    assert a.model == b.model and a.vocab_size == 200
    assert list(tmp_path.iterdir()) == []


def test_sentencepiece_survives_set_seed(toks):
    # tf.random.set_seed drops eager kernels and with them tensorflow-text's SentencePiece resource.
    sp = toks["unigram"]
    before = sp.encode("the class statement")
    tf.random.set_seed(1)
    assert sp.encode("the class statement") == before
    assert sp.tf_encode(["the class statement"]).to_list() == [before]


def test_bad_input(toks):
    with pytest.raises(ValueError, match="at least 3"):
        fit_tokenizer("char", ["abc"], 2)
    with pytest.raises(ValueError, match="empty training text"):
        fit_tokenizer("word", [], 10)
    with pytest.raises(ValueError, match="empty training text"):
        fit_tokenizer("sentencepiece", ["", ""], 10)
    with pytest.raises(ValueError, match="only whitespace"):
        fit_tokenizer("word", [" \n "], 10)
    with pytest.raises(ValueError, match="unknown tokenizer kind 'chars'"):
        fit_tokenizer("chars", ["abc"], 10)
    with pytest.raises(ValueError, match="258 ids"):
        fit_tokenizer("byte", ["abc"], 100)
    with pytest.raises(ValueError, match="unknown word tokenizer option"):
        fit_tokenizer("word", ["abc"], 10, lower=True)
    with pytest.raises(ValueError, match="smaller than required_chars"):
        fit_tokenizer("sentencepiece", ["the cat sat on the mat"], 5)
    with pytest.raises(ValueError, match="model_type"):
        fit_tokenizer("sentencepiece", ["the cat"], 50, model_type="word")
    with pytest.raises(ValueError, match="out of range"):
        toks["char"].decode([2, 60])
    with pytest.raises(ValueError, match="encode takes a str"):
        toks["byte"].encode(b"abc")
    with pytest.raises(ValueError, match="1-D"):
        toks["word"].decode([[2, 3]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="vocab_size=500"):
        toks["word"].tf_decode([[2, 500]])
    with pytest.raises(ValueError, match="kind 'chars'"):
        Tokenizer.from_json({"kind": "chars"})
    with pytest.raises(ValueError, match="malformed word"):
        Tokenizer.from_json({"kind": "word", "format": 1})
    import io

    import sentencepiece as spm
    foreign = io.BytesIO()   # ids 0/1/2 as ours, but SentencePiece's default normalisation
    spm.SentencePieceTrainer.train(sentence_iterator=iter(["the cat sat"]), model_writer=foreign, vocab_size=10,
                                   eos_id=0, unk_id=1, bos_id=-1, pad_id=-1, user_defined_symbols=["\n"],
                                   hard_vocab_limit=False, minloglevel=2)
    with pytest.raises(ValueError, match="normalises its text"):
        SentencePieceTokenizer(foreign.getvalue())
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        Tokenizer.from_json({"kind": "sentencepiece", "format": 1, "model": "AAAA"})


_SERVE = r"""
import json, sys
import tensorflow as tf
core = tf.saved_model.load(sys.argv[1])     # char, byte and word graphs: TensorFlow alone
assert "tensorflow_text" not in sys.modules and "zoo" not in sys.modules
import tensorflow_text  # noqa: F401  (registers the SentencePiece op)
pieces = tf.saved_model.load(sys.argv[2])
samples = json.load(open(sys.argv[3]))
out = {}
for module, names in ((core, ["char", "byte", "word", "word_lower"]), (pieces, ["unigram", "bpe"])):
    for name in names:
        ids = getattr(module, "encode_" + name)(tf.constant(samples)).to_list()
        padded = tf.ragged.constant(ids, dtype=tf.int32).to_tensor(-1)
        text = [s.decode("utf-8") for s in getattr(module, "decode_" + name)(padded).numpy()]
        out[name] = {"ids": ids, "text": text}
print(json.dumps(out))
"""


def _serving(tokenizers):
    module = tf.Module()
    for name, tok in tokenizers.items():
        setattr(module, "tok_" + name, tok)   # tracked: the tokenizer is a tf.Module with its tables
        setattr(module, "encode_" + name, tf.function(tok.tf_encode, input_signature=[tf.TensorSpec([None], tf.string)]))
        setattr(module, "decode_" + name, tf.function(tok.tf_decode, input_signature=[tf.TensorSpec([None, None], tf.int32)]))
    return module


def test_savedmodel_reloads_in_a_fresh_process(corpus, toks, tmp_path):
    samples = _samples(corpus)
    names = {"core": ["char", "byte", "word", "word_lower"], "pieces": ["unigram", "bpe"]}
    for folder, keys in names.items():
        # A fresh copy per kind (from JSON) so the test sees the tables it creates being saved.
        tf.saved_model.save(_serving({k: Tokenizer.from_json(toks[k].to_json()) for k in keys}),
                            str(tmp_path / folder))
    (tmp_path / "samples.json").write_text(json.dumps(samples))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", _SERVE, str(tmp_path / "core"), str(tmp_path / "pieces"),
                           str(tmp_path / "samples.json")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, tok in toks.items():
        ids = [tok.encode(s) for s in samples]
        assert served[name]["ids"] == ids, name
        assert served[name]["text"] == [tok.decode(i) for i in ids], name

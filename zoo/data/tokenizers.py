"""Tokenizers shared by the families: characters, bytes, words and SentencePiece pieces (moved
here from the language-model family so that other families use them without importing it; the
language models' `zoo/models/<family>/tokenizers.py` re-exports this module, so their saved runs
and exports read back unchanged).

Every tokenizer follows one id convention: 0 = `<eos>` (never produced by `encode`; the
task puts it between documents), 1 = `<unk>`, then the tokens. `vocab_size` counts all of them
and is at most the `size` asked for (a text with fewer distinct tokens gives fewer).

  * "char": the `size - 2` most frequent characters of the training texts (ties by code point),
    as in the character-level language models of Graves, "Generating Sequences With Recurrent
    Neural Networks" (§3, text prediction); any other character is `<unk>`.
  * "byte": the 256 byte values of the UTF-8 encoding (258 ids; never `<unk>`).
  * "word": whitespace-separated words as in the Penn Treebank set-up of Mikolov et al.,
    "Recurrent neural network based language model" (the `size - 2` most frequent words, ties
    by code point, others `<unk>`; a literal `<unk>` word in the text, as PTB's files have, is
    the `<unk>` id). Not lowercased unless `lowercase=True` (PTB's files already are).
  * "sentencepiece": a unigram language-model segmentation (Kudo, "Subword Regularization", §3)
    or BPE (Sennrich et al., "Neural Machine Translation of Rare Words with Subword Units",
    §3.2) trained with the `sentencepiece` package (Kudo and Richardson, "SentencePiece: A simple
    and language independent subword tokenizer and detokenizer for Neural Text Processing") and
    applied with `tensorflow_text.SentencepieceTokenizer`. The model is lossless (§3.1: spaces
    are the "▁" meta symbol; identity normalisation, no whitespace collapsing, no dummy prefix),
    and "\\n" is a piece of its own (id 2): lines are segmented one by one.

Decoding: ids 0 (`<eos>`) and negative ids (the samplers' padding, `pad_token=-1`) carry no
text and are dropped; `<unk>` is shown as "\\ufffd" (char, byte, sentencepiece) or "<unk>"
(word); an id >= `vocab_size` is an error. Word decoding joins words with single spaces.

`units(text)` is `len(text)` in Unicode characters for every kind: the denominator of bits per
character, so word-, piece- and character-level models of the same text compare.

The `tf_encode` / `tf_decode` graph versions give exactly the ids and strings of `encode` /
`decode`. They use only core TensorFlow ops (plus tensorflow-text's SentencePiece op for
"sentencepiece"), and their lookup tables are created with the tokenizer and kept as its
attributes: a tokenizer is a `tf.Module`, so a module that holds it saves the tables inside its
SavedModel.
"""
from __future__ import annotations

import base64
import functools
from collections import Counter
from typing import Iterable

import numpy as np
import tensorflow as tf

EOS, UNK = 0, 1
NUM_SPECIAL = 2
KINDS = ("char", "byte", "word", "sentencepiece")
MIN_SIZE = 3  # <eos>, <unk> and at least one token
UNK_CHAR = "\ufffd"
UNK_WORD = "<unk>"
FORMAT = 1  # version of the `to_json` layout


def _check_size(size, kind):
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool):
        raise ValueError(f"the {kind} vocabulary size must be an integer, got {size!r}")
    if size < MIN_SIZE:
        raise ValueError(f"the {kind} vocabulary size must be at least {MIN_SIZE} (<eos>, <unk> and one "
                         f"token), got {size}")
    return int(size)


def _texts(texts, kind) -> list[str]:
    """The training texts as a list (a single string is one text); empty text is an error."""
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    for t in texts:
        if not isinstance(t, str):
            raise ValueError(f"{kind} tokenizer training texts must be str, got {type(t).__name__}")
    if not any(texts):
        raise ValueError(f"cannot fit a {kind} tokenizer on empty training text")
    return texts


def _ids_array(ids, vocab_size) -> np.ndarray:
    """A 1-D sequence of ids -> the int64 ids that carry text (> 0), range-checked."""
    if isinstance(ids, (tf.Tensor, tf.Variable)):
        ids = ids.numpy()
    arr = np.asarray(ids)
    if arr.size == 0:
        return np.zeros([0], np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"decode takes a 1-D sequence of integer token ids, got shape {arr.shape} "
                         f"and dtype {arr.dtype}")
    if arr.max() >= vocab_size:
        raise ValueError(f"token id {int(arr.max())} is out of range for a vocabulary of {vocab_size} ids")
    return arr[arr > 0].astype(np.int64)


def _tf_strings(strings):
    strings = tf.convert_to_tensor(strings, tf.string)
    if strings.shape.rank is not None and strings.shape.rank != 1:
        raise ValueError(f"tf_encode takes a vector [batch] of tf.string, got shape {strings.shape}")
    return strings


def _tf_text_ids(ids, vocab_size):
    """Dense [B, T] or ragged [B, None] integer ids -> ragged int32 ids > 0 (EOS and padding
    dropped), checked to be < vocab_size."""
    if not isinstance(ids, tf.RaggedTensor):
        ids = tf.convert_to_tensor(ids)
    if not ids.dtype.is_integer:
        raise ValueError(f"tf_decode takes integer token ids, got {ids.dtype.name}")
    if ids.shape.rank is not None and ids.shape.rank != 2:
        raise ValueError(f"tf_decode takes token ids [batch, time], got shape {ids.shape}")
    ids = tf.cast(ids, tf.int32)
    ragged = isinstance(ids, tf.RaggedTensor)
    flat = ids.flat_values if ragged else ids
    check = tf.debugging.assert_less(flat, tf.constant(vocab_size, tf.int32),
                                     message=f"token ids must be < vocab_size={vocab_size}")
    with tf.control_dependencies([check]):
        flat = tf.identity(flat)
    ids = ids.with_flat_values(flat) if ragged else flat
    return tf.ragged.boolean_mask(ids, ids > 0)


class Tokenizer(tf.Module):
    """Text <-> token ids, in Python and inside TensorFlow graphs (see the module docstring).

    Subclasses set `kind` and implement `_encode`, `decode`, `_tf_encode`, `_tf_join`,
    `_json` and `_from_json`.
    """

    kind = ""

    def __init__(self, vocab_size: int):
        super().__init__(name=f"{self.kind}_tokenizer")
        self.vocab_size = int(vocab_size)

    # -- Python side --------------------------------------------------------------------------
    @classmethod
    def fit(cls, texts: Iterable[str], size: int, **options) -> "Tokenizer":
        raise NotImplementedError

    def encode_array(self, text: str) -> np.ndarray:
        """The ids of `text` as an int32 array (no EOS added)."""
        if not isinstance(text, str):
            raise ValueError(f"encode takes a str, got {type(text).__name__}")
        return self._encode(text)

    def encode(self, text: str) -> list[int]:
        """The ids of `text` (no EOS added)."""
        return self.encode_array(text).tolist()

    def _encode(self, text: str) -> np.ndarray:
        raise NotImplementedError

    def decode(self, ids) -> str:
        """The text of `ids`: 0 and negative ids dropped, <unk> as a visible marker."""
        raise NotImplementedError

    def count_unknown(self, text: str) -> int:
        """How many <unk> tokens `encode(text)` has."""
        return int(np.count_nonzero(self.encode_array(text) == UNK))

    def units(self, text: str) -> int:
        """The characters of `text` (Unicode code points): the bits-per-character denominator."""
        return len(text)

    # -- serialization --------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"kind": self.kind, "format": FORMAT, **self._json()}

    def _json(self) -> dict:
        return {}

    @staticmethod
    def from_json(d) -> "Tokenizer":
        if not isinstance(d, dict) or d.get("kind") not in _CLASSES:
            kind = d.get("kind") if isinstance(d, dict) else None
            raise ValueError(f"not a tokenizer description: kind {kind!r}; expected one of {list(KINDS)}")
        if d.get("format") != FORMAT:
            raise ValueError(f"tokenizer format {d.get('format')!r} is not supported (expected {FORMAT})")
        try:
            return _CLASSES[d["kind"]]._from_json(d)
        except (KeyError, TypeError) as e:
            raise ValueError(f"malformed {d['kind']} tokenizer description: {e!r}") from None

    @classmethod
    def _from_json(cls, d) -> "Tokenizer":
        raise NotImplementedError

    # -- TensorFlow graph side ----------------------------------------------------------------
    def tf_tables(self) -> tuple:
        """The TensorFlow resources the graph versions use (created with the tokenizer, kept as
        attributes so a tf.Module holding the tokenizer saves them)."""
        return ()

    def tf_encode(self, strings) -> tf.RaggedTensor:
        """Strings [B] (UTF-8) -> ragged int32 ids [B, None], equal to `encode` row by row."""
        return self._tf_encode(_tf_strings(strings))

    def tf_decode(self, ids) -> tf.Tensor:
        """Ids [B, T] (or ragged [B, None]) -> strings [B], equal to `decode` row by row."""
        return self._tf_join(_tf_text_ids(ids, self.vocab_size))

    def _tf_encode(self, strings):
        raise NotImplementedError

    def _tf_join(self, ids):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


class _Data:
    """A holder of plain Python data: a leaf for tf.Module and for checkpoint tracking."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


# -- characters ------------------------------------------------------------------------------
class CharTokenizer(Tokenizer):
    """The `size - 2` most frequent characters of the training texts (ties by code point);
    `fit(..., bytes=True)` gives the byte-level `ByteTokenizer` instead."""

    kind = "char"

    def __init__(self, characters):
        characters = list(characters)
        for c in characters:
            if not isinstance(c, str) or len(c) != 1 or 0xD800 <= ord(c) < 0xE000:
                raise ValueError(f"a character vocabulary holds single (non-surrogate) characters, got {c!r}")
        if len(set(characters)) != len(characters):
            raise ValueError("the character vocabulary has a repeated character")
        super().__init__(NUM_SPECIAL + len(characters))
        codes = np.array([ord(c) for c in characters], np.int64)
        lut = np.full([int(codes.max()) + 1 if len(codes) else 1], UNK, np.int32)
        lut[codes] = np.arange(NUM_SPECIAL, self.vocab_size, dtype=np.int32)
        # Decoding surfaces: <eos> has none, <unk> is the replacement character.
        self._py = _Data(characters=characters, lut=lut, surfaces=["", UNK_CHAR] + characters)
        self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(codes, tf.int32), tf.range(NUM_SPECIAL, self.vocab_size, dtype=tf.int32)), UNK)

    @property
    def characters(self) -> list[str]:
        return list(self._py.characters)

    @classmethod
    def fit(cls, texts, size=None, bytes: bool = False, **options) -> "CharTokenizer":
        if options:
            raise ValueError(f"unknown char tokenizer option(s) {sorted(options)}; it takes size and bytes")
        if bytes:
            texts = _texts(texts, "byte")
            if size is not None and _check_size(size, "byte") < ByteTokenizer.VOCAB_SIZE:
                raise ValueError(f"the byte vocabulary has {ByteTokenizer.VOCAB_SIZE} ids; size={size} is smaller")
            return ByteTokenizer()
        size = _check_size(size, "char")
        counts = Counter()
        for t in _texts(texts, "char"):
            counts.update(t)
        chars = [c for c in counts if not 0xD800 <= ord(c) < 0xE000]  # not representable in UTF-8
        return cls(sorted(chars, key=lambda c: (-counts[c], ord(c)))[: size - NUM_SPECIAL])

    def _encode(self, text):
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), "<u4")
        lut = self._py.lut
        ids = np.full(codes.shape, UNK, np.int32)
        inside = codes < len(lut)
        ids[inside] = lut[codes[inside]]
        return ids

    def decode(self, ids):
        surfaces = self._py.surfaces
        return "".join([surfaces[i] for i in _ids_array(ids, self.vocab_size).tolist()])

    def _json(self):
        return {"characters": "".join(self._py.characters)}

    @classmethod
    def _from_json(cls, d):
        return cls(list(d["characters"]))

    def tf_tables(self):
        return (self.table,)

    def _tf_encode(self, strings):
        codes = tf.strings.unicode_decode(strings, "UTF-8", errors="replace", replacement_char=0xFFFD)
        return codes.with_flat_values(self.table.lookup(codes.flat_values))

    def _tf_join(self, ids):
        return tf.strings.reduce_join(tf.gather(tf.constant(self._py.surfaces), ids), axis=-1)


class ByteTokenizer(CharTokenizer):
    """The 256 byte values of the text's UTF-8 encoding: id 2 + byte (258 ids, no <unk>).
    Decoding joins the bytes and replaces invalid UTF-8 with "\\ufffd" (Python's
    errors="replace"; the graph's `unicode_transcode` replaces the same maximal subparts)."""

    kind = "byte"
    VOCAB_SIZE = NUM_SPECIAL + 256

    def __init__(self):
        Tokenizer.__init__(self, self.VOCAB_SIZE)
        byte_strings = [bytes([b]) for b in range(256)]
        self._py = _Data(characters=[], surfaces=[b"", UNK_CHAR.encode("utf-8")] + byte_strings)
        self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(byte_strings), tf.range(NUM_SPECIAL, self.VOCAB_SIZE, dtype=tf.int32)), UNK)

    @classmethod
    def fit(cls, texts, size=None, **options):
        return CharTokenizer.fit(texts, size, bytes=True, **options)

    def _encode(self, text):
        return np.frombuffer(text.encode("utf-8"), np.uint8).astype(np.int32) + NUM_SPECIAL

    def decode(self, ids):
        surfaces = self._py.surfaces
        raw = b"".join([surfaces[i] for i in _ids_array(ids, self.vocab_size).tolist()])
        return raw.decode("utf-8", errors="replace")

    def _json(self):
        return {}

    @classmethod
    def _from_json(cls, d):
        return cls()

    def _tf_encode(self, strings):
        pieces = tf.strings.bytes_split(strings)
        return pieces.with_flat_values(self.table.lookup(pieces.flat_values))

    def _tf_join(self, ids):
        raw = tf.strings.reduce_join(tf.gather(tf.constant(self._py.surfaces), ids), axis=-1)
        return tf.strings.unicode_transcode(raw, "UTF-8", "UTF-8", errors="replace",
                                            replacement_char=0xFFFD, replace_control_characters=False)


# -- words -----------------------------------------------------------------------------------
@functools.cache
def _whitespace() -> str:
    """Every character Python's `str.split()` splits on (the graph splits on the same ones)."""
    return "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


@functools.cache
def _lowercase_map() -> dict[int, int]:
    """Per-character lowercasing: the first character of `str.lower()` (Unicode's simple
    lowercase mapping; "İ" -> "i"). Per character and context-free, so the graph (a table of
    code points) lowercases exactly as Python does."""
    out = {}
    for c in range(0x110000):
        if 0xD800 <= c < 0xE000:
            continue
        low = chr(c).lower()
        if low != chr(c):
            out[c] = ord(low[0])
    return out


class WordTokenizer(Tokenizer):
    """Whitespace-separated words (Python's `str.split()`), optionally lowercased per character;
    the `size - 2` most frequent training words (ties by code point), others <unk>."""

    kind = "word"

    def __init__(self, words, lowercase: bool = False):
        words = list(words)
        for w in words:
            if not isinstance(w, str) or not w or len(w.split()) != 1 or w != w.strip():
                raise ValueError(f"a word vocabulary holds non-empty words without whitespace, got {w!r}")
        if UNK_WORD in words:
            raise ValueError(f"{UNK_WORD!r} is the <unk> token, not a vocabulary word")
        if len(set(words)) != len(words):
            raise ValueError("the word vocabulary has a repeated word")
        if not isinstance(lowercase, bool):
            raise ValueError(f"lowercase must be true or false, got {lowercase!r}")
        super().__init__(NUM_SPECIAL + len(words))
        self.lowercase = lowercase
        lower = _lowercase_map() if lowercase else None
        if lower and any(w.translate(lower) != w for w in words):
            raise ValueError("a lowercasing word vocabulary holds only lowercase words")
        index = {w: i for i, w in enumerate(words, NUM_SPECIAL)}
        index[UNK_WORD] = UNK  # PTB's files spell unknown words "<unk>"
        self._py = _Data(words=words, index=index, lower=lower, surfaces=["", UNK_WORD] + words)
        keys = words + [UNK_WORD]
        values = list(range(NUM_SPECIAL, self.vocab_size)) + [UNK]
        self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(keys, tf.string), tf.constant(values, tf.int32)), UNK)
        if lowercase:
            self.lowercase_table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(lower), tf.int32), tf.constant(list(lower.values()), tf.int32)), -1)

    @property
    def words(self) -> list[str]:
        return list(self._py.words)

    @classmethod
    def fit(cls, texts, size, lowercase: bool = False, **options) -> "WordTokenizer":
        if options:
            raise ValueError(f"unknown word tokenizer option(s) {sorted(options)}; it takes size and lowercase")
        size = _check_size(size, "word")
        counts = Counter()
        for t in _texts(texts, "word"):
            counts.update(t.split())
        if lowercase:
            lower, merged = _lowercase_map(), Counter()
            for w, n in counts.items():
                merged[w.translate(lower)] += n
            counts = merged
        counts.pop(UNK_WORD, None)
        if not counts:
            raise ValueError("cannot fit a word tokenizer on training text without words (only whitespace)")
        return cls(sorted(counts, key=lambda w: (-counts[w], w))[: size - NUM_SPECIAL], lowercase=lowercase)

    def words_of(self, text: str) -> list[str]:
        """The words of `text` as the vocabulary sees them (split, lowercased if asked)."""
        words = text.split()
        lower = self._py.lower
        if lower is None:
            return words
        memo = {}
        return [memo[w] if w in memo else memo.setdefault(w, w.translate(lower)) for w in words]

    def normalize(self, text: str) -> str:
        """The text a word model represents: its words joined by single spaces (lowercased if
        asked); `decode(encode(text))` is this with unknown words as "<unk>"."""
        return " ".join(self.words_of(text))

    def characters(self, text: str) -> int:
        """The characters of `normalize(text)`: a per-character normaliser of word-level bits
        that counts the text as the word model sees it (one space between words); `units(text)`
        counts the raw text instead."""
        return len(self.normalize(text))

    def _encode(self, text):
        get = self._py.index.get
        words = self.words_of(text)
        return np.fromiter((get(w, UNK) for w in words), np.int32, count=len(words))

    def decode(self, ids):
        surfaces = self._py.surfaces
        return " ".join([surfaces[i] for i in _ids_array(ids, self.vocab_size).tolist()])

    def _json(self):
        return {"words": list(self._py.words), "lowercase": self.lowercase}

    @classmethod
    def _from_json(cls, d):
        return cls(d["words"], lowercase=d["lowercase"])

    def tf_tables(self):
        return (self.table,) + ((self.lowercase_table,) if self.lowercase else ())

    def _tf_encode(self, strings):
        # The graph's split knows only ASCII whitespace: every other character Python splits on
        # becomes a space first.
        pattern = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in _whitespace()) + "]"
        words = tf.strings.split(tf.strings.regex_replace(strings, pattern, " "))
        flat = words.flat_values
        if self.lowercase:
            codes = tf.strings.unicode_decode(flat, "UTF-8", errors="replace", replacement_char=0xFFFD)
            low = self.lowercase_table.lookup(codes.flat_values)
            codes = codes.with_flat_values(tf.where(low < 0, codes.flat_values, low))
            flat = tf.strings.unicode_encode(codes, "UTF-8")
        return words.with_flat_values(self.table.lookup(flat))

    def _tf_join(self, ids):
        return tf.strings.reduce_join(tf.gather(tf.constant(self._py.surfaces), ids), axis=-1, separator=" ")


# -- SentencePiece -----------------------------------------------------------------------------
NEWLINE = 2  # the "\n" piece of every SentencePiece model here
MODEL_TYPES = ("unigram", "bpe")


def train_sentencepiece(texts, size: int, model_type: str = "unigram",
                        character_coverage: float = 1.0) -> bytes:
    """A SentencePiece model proto trained in memory on the lines of `texts` (ids: 0 <eos>,
    1 <unk>, 2 "\\n", then pieces; at most `size` of them). Deterministic: one thread, every
    line, in order, no shuffling or sampling; no file is written."""
    import io

    import sentencepiece as spm

    if model_type not in MODEL_TYPES:
        raise ValueError(f"unknown sentencepiece model_type {model_type!r}; choose one of {list(MODEL_TYPES)}")
    if not 0.0 < float(character_coverage) <= 1.0:
        raise ValueError(f"character_coverage must be in (0, 1], got {character_coverage!r}")
    size = _check_size(size, "sentencepiece")
    lines = [line for t in _texts(texts, "sentencepiece") for line in t.split("\n") if line]
    if not lines:
        raise ValueError("cannot fit a sentencepiece tokenizer on training text without characters (only newlines)")
    out = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_writer=out, vocab_size=size, model_type=model_type,
            eos_id=EOS, unk_id=UNK, bos_id=-1, pad_id=-1, eos_piece="<eos>", unk_piece="<unk>",
            user_defined_symbols=["\n"], unk_surface=UNK_CHAR,
            # Lossless text: no normalisation, spaces kept as they are, no prefix space added.
            normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=False,
            allow_whitespace_only_pieces=True, character_coverage=float(character_coverage),
            hard_vocab_limit=False, num_threads=1, shuffle_input_sentence=False, input_sentence_size=0,
            max_sentence_length=max(4192, max(len(line.encode("utf-8")) for line in lines) + 1),
            minloglevel=2)
    except RuntimeError as e:
        reason = str(e).strip().splitlines()[-1].split("] ")[-1]
        raise ValueError(f"sentencepiece cannot train a {size}-piece {model_type} model on this text: "
                         f"{reason}") from None
    return out.getvalue()


class SentencePieceTokenizer(Tokenizer):
    """SentencePiece pieces (see the module docstring); `encode` runs the tensorflow-text op
    itself, so the Python and graph versions cannot disagree (the `sentencepiece` package and
    tensorflow-text's copy break ties between equally likely segmentations differently)."""

    kind = "sentencepiece"

    def __init__(self, model: bytes):
        import sentencepiece as spm

        if not isinstance(model, (bytes, bytearray)) or not model:
            raise ValueError("a SentencePieceTokenizer needs the model proto bytes")
        try:
            processor = spm.SentencePieceProcessor(model_proto=bytes(model))
        except Exception as e:  # the package raises RuntimeError/OSError on a bad proto
            raise ValueError(f"not a SentencePiece model proto: {e}") from None
        n = int(processor.get_piece_size())
        if not (n >= MIN_SIZE and processor.is_control(EOS) and processor.is_unknown(UNK)
                and processor.id_to_piece(NEWLINE) == "\n"):
            raise ValueError("this SentencePiece model does not follow the zoo's tokenizer ids (0 <eos>, 1 <unk>, "
                             "2 newline); train it with train_sentencepiece")
        spec = _model_proto(bytes(model))
        norm = spec.normalizer_spec
        if norm.add_dummy_prefix or norm.remove_extra_whitespaces or norm.precompiled_charsmap:
            raise ValueError("this SentencePiece model normalises its text (a prefix space, collapsed "
                             "whitespace or a character map); train it with train_sentencepiece")
        super().__init__(n)
        self.model_type = {1: "unigram", 2: "bpe"}.get(int(spec.trainer_spec.model_type), "other")
        surfaces = ["", UNK_CHAR] + [processor.id_to_piece(i).replace("\u2581", " ") for i in range(2, n)]
        self._py = _Data(model=bytes(model), surfaces=surfaces)
        self.op = self._new_op()

    def _new_op(self):
        import hashlib

        import tensorflow_text as tft

        # A name of its own per model: two unnamed SentencePiece ops in one SavedModel come back
        # from `tf.saved_model.load` sharing one model.
        name = "sentencepiece_" + hashlib.sha256(self._py.model).hexdigest()[:16]
        return tft.SentencepieceTokenizer(model=self._py.model, out_type=tf.int32, name=name)

    def _live_op(self):
        """The tracked tensorflow-text op, recreated when its kernel was dropped:
        `tf.random.set_seed` clears the eager kernel cache, and the SentencePiece resource with
        it (zoo/models/slicenet/data.py meets the same). Run eagerly even while tracing."""
        with tf.init_scope():
            try:
                self.op.tokenize(tf.constant([""]))
            except tf.errors.NotFoundError:
                self.op = self._new_op()
        return self.op

    @property
    def model(self) -> bytes:
        return self._py.model

    @classmethod
    def fit(cls, texts, size, model_type: str = "unigram", character_coverage: float = 1.0,
            **options) -> "SentencePieceTokenizer":
        if options:
            raise ValueError(f"unknown sentencepiece tokenizer option(s) {sorted(options)}; it takes size, "
                             f"model_type and character_coverage")
        return cls(train_sentencepiece(texts, size, model_type, character_coverage))

    def _encode(self, text):
        # Line by line, exactly as the graph does: "\n" is always its own piece.
        lines = text.split("\n")
        pieces = self._live_op().tokenize(tf.constant(lines, tf.string))
        flat, splits = pieces.flat_values.numpy(), pieces.row_splits.numpy()
        return np.insert(flat, splits[1:-1], NEWLINE).astype(np.int32)

    def decode(self, ids):
        surfaces = self._py.surfaces
        return "".join([surfaces[i] for i in _ids_array(ids, self.vocab_size).tolist()])

    def _json(self):
        return {"model": base64.b64encode(self._py.model).decode("ascii"), "model_type": self.model_type}

    @classmethod
    def _from_json(cls, d):
        try:
            model = base64.b64decode(d["model"], validate=True)
        except (ValueError, TypeError):
            raise ValueError("the sentencepiece tokenizer's model is not base64") from None
        return cls(model)

    def tf_tables(self):
        return (self.op,)

    def _tf_encode(self, strings):
        lines = tf.strings.split(strings, "\n")  # every document has at least one (maybe empty) line
        pieces = self._live_op().tokenize(lines.flat_values)
        newline = tf.fill([tf.shape(lines.flat_values)[0], 1], tf.constant(NEWLINE, tf.int32))
        with_newline = tf.concat([pieces, tf.RaggedTensor.from_tensor(newline)], axis=1)
        docs = lines.with_flat_values(with_newline).merge_dims(1, 2)
        return docs[:, :-1]  # no newline after a document's last line

    def _tf_join(self, ids):
        return tf.strings.reduce_join(tf.gather(tf.constant(self._py.surfaces), ids), axis=-1)


def _model_proto(proto: bytes):
    """The parsed SentencePiece ModelProto (trainer and normaliser settings)."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    m = pb.ModelProto()
    m.ParseFromString(proto)
    return m


_CLASSES = {"char": CharTokenizer, "byte": ByteTokenizer, "word": WordTokenizer,
            "sentencepiece": SentencePieceTokenizer}


def fit_tokenizer(kind: str, texts: Iterable[str], size: int | None, **options) -> Tokenizer:
    """A tokenizer of `kind` ("char", "byte", "word", "sentencepiece") fitted on `texts` with at
    most `size` ids. Options: word `lowercase`; sentencepiece `model_type`, `character_coverage`
    (byte ignores `size` except to check that its 258 ids fit)."""
    if kind not in _CLASSES:
        raise ValueError(f"unknown tokenizer kind {kind!r}; choose one of {list(KINDS)}")
    return _CLASSES[kind].fit(texts, size, **options)

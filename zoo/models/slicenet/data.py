"""Parallel corpora and tokenizers for SliceNet (Kaiser, Gomez and Chollet, "Depthwise Separable
Convolutions for Neural Machine Translation", §5 trains on WMT EN-DE subwords).

Corpora (`data.corpus`):
  * "django": Django's gettext catalogues pair every English msgid with its translation in
    `task.languages` (default [de]). Fuzzy, empty and copied (msgstr == msgid) entries
    are dropped as untranslated,
    plural entries give (msgid, msgstr[0]) and (msgid_plural, msgstr[1]), whitespace is
    normalised, and (source, target, language) triples are deduplicated.
  * a .tsv file: `source<TAB>target` (a third column names the language; default the first of
    `task.languages`).
  * a text file with `task.target_file`: two aligned files, one sentence per line.
The split is deterministic: a pair is in the test split when the blake2b hash of its source
falls below `test_fraction`, so a source never appears in both splits, in any language.

Tokenizers (`task.tokenizer`): "sentencepiece" (a unigram model trained on the training
split's sources and targets with the `sentencepiece` package, applied with
`tensorflow_text.SentencepieceTokenizer`) or "bytes" (UTF-8 bytes). Ids 0-3 are PAD, EOS, UNK,
GO in both; with several target languages each gets a token after the subwords/bytes.
With `task.placeholders` the vocabulary also protects placeholders (see `placeholders.py`):
slot tokens replace them before tokenizing and the source's text is put back after decoding.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.data.splits import hash_split
from zoo.data.errors import ZooDataError
from zoo.io import atomic_write
from zoo.models.slicenet.model import EOS, GO, NUM_SPECIAL, PAD, UNK

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Pair:
    source: str
    target: str
    language: str


def _clean(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def django_pairs(languages) -> list[Pair]:
    """EN->X pairs from Django's catalogues for each language code (e.g. "de", "zh_Hans")."""
    from zoo.data.po import django_po_files, parse_po

    if not languages:
        raise ZooDataError("task.languages is empty; name at least one target language, e.g. [de]")
    pairs = []
    for lang in languages:
        for path in django_po_files(lang):  # raises ZooDataError naming the known languages
            for e in parse_po(path):
                sources = [e.msgid] + ([e.msgid_plural] if e.msgid_plural else [])
                for src, tgt in zip(sources, e.msgstrs):
                    src, tgt = _clean(src), _clean(tgt)
                    # A msgstr equal to its msgid is left untranslated (names, formats, codes).
                    if src and tgt and src != tgt:
                        pairs.append(Pair(src, tgt, lang))
    return dedupe(pairs)


def dedupe(pairs) -> list[Pair]:
    return list(dict.fromkeys(pairs))


def file_pairs(path, target_file=None, language="xx") -> list[Pair]:
    """Pairs from a TSV (source, target[, language]) or from two aligned one-sentence-per-line files."""
    path = Path(path)
    if not path.is_file():
        raise ZooDataError(f"parallel corpus file not found: {str(path)!r}")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    pairs = []
    if target_file is not None:
        tpath = Path(target_file)
        if not tpath.is_file():
            raise ZooDataError(f"target file not found: {str(tpath)!r}")
        targets = tpath.read_text(encoding="utf-8", errors="replace").splitlines()
        if len(targets) != len(lines):
            raise ZooDataError(f"{path} has {len(lines)} lines but {tpath} has {len(targets)}; "
                               f"aligned files need one sentence per line in both")
        rows = [(s, t, language) for s, t in zip(lines, targets)]
    else:
        rows = []
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) not in (2, 3):
                raise ZooDataError(f"{path}:{i}: expected 'source<TAB>target[<TAB>language]', got "
                                   f"{len(cols)} column(s)")
            rows.append((cols[0], cols[1], cols[2].strip() if len(cols) == 3 else language))
    for s, t, lang in rows:
        s, t = _clean(s), _clean(t)
        if s and t:
            pairs.append(Pair(s, t, lang))
    return dedupe(pairs)


def load_pairs(corpus: str, languages=("de",), target_file=None) -> list[Pair]:
    languages = list(languages)
    if corpus == "django":
        pairs = django_pairs(languages)
    else:
        pairs = file_pairs(corpus, target_file, languages[0] if languages else "xx")
    if not pairs:
        raise ZooDataError(f"parallel corpus {corpus!r} has no usable (non-empty) sentence pair")
    return pairs


def split_pairs(pairs, test_fraction: float):
    """Deterministic split by the hash of the source sentence (machine independent)."""
    return hash_split(list(pairs), test_fraction, key=lambda p: p.source.encode("utf-8"), person=b"zoo-slicenet")


# -- tokenizers ------------------------------------------------------------------------------------
class Vocabulary:
    """Text <-> ids in Python and inside TensorFlow graphs (the `translate` SavedModel).

    `base_size` ids come from the tokenizer (specials included); language tokens follow.
    """

    kind = ""

    def __init__(self, languages, placeholders: bool = False):
        self.languages = list(languages)
        self.placeholders = bool(placeholders)

    @property
    def size(self) -> int:
        return self.base_size + (len(self.languages) if len(self.languages) > 1 else 0)

    def start_token(self, language=None) -> int:
        """First decoder input: GO, or the target-language token when there are several."""
        if len(self.languages) <= 1:
            if language not in (None, *self.languages):
                raise ZooDataError(f"this model translates into {self.languages}, not {language!r}")
            return GO
        if language is None:
            language = self.languages[0]
        if language not in self.languages:
            raise ZooDataError(f"unknown target language {language!r}; this model knows {self.languages}")
        return self.base_size + self.languages.index(language)

    def encode(self, texts) -> list[list[int]]:
        import tensorflow as tf
        return self.tf_encode(tf.constant(list(texts), tf.string)).to_list()

    def encode_pairs(self, sources, targets) -> tuple[list[list[int]], list[list[int]]]:
        """Training/evaluation ids of aligned sources and targets (placeholders protected jointly)."""
        import tensorflow as tf
        src, values = self.protect(tf.constant(list(sources), tf.string))
        tgt, _ = self.protect(tf.constant(list(targets), tf.string), values)
        return self.tf_encode(src).to_list(), self.tf_encode(tgt).to_list()

    def protect(self, texts, values=None):
        """Strings [B] -> (strings with slot tokens, placeholder values); a no-op when disabled."""
        if not self.placeholders:
            return texts, None
        from zoo.models.slicenet.placeholders import protect
        return protect(texts, values)

    def slot_ids(self):
        """Ids of the placeholder slot tokens when each is one token (SentencePiece), else None."""
        return None

    def restore(self, texts, values):
        """Decoded strings [B] -> the source's placeholders back in their slots (no-op when disabled)."""
        if not self.placeholders:
            return texts
        from zoo.models.slicenet.placeholders import restore
        return restore(texts, values)

    def decode(self, ids) -> list[str]:
        import tensorflow as tf
        out = self.tf_decode(tf.constant(np.asarray(ids, np.int32)))
        return [s.decode("utf-8", errors="replace") for s in out.numpy()]

    def tf_decode(self, ids):
        """Dense ids [B, T] (stopping at the first EOS; specials and languages dropped) -> strings."""
        import tensorflow as tf
        ids = tf.convert_to_tensor(ids, tf.int32)
        before_eos = tf.equal(tf.cumsum(tf.cast(tf.equal(ids, EOS), tf.int32), axis=1), 0)
        keep = before_eos & (ids >= NUM_SPECIAL) & (ids < self.base_size)
        return self._detokenize(tf.ragged.boolean_mask(ids, keep))


class SentencePieceVocabulary(Vocabulary):
    kind = "sentencepiece"

    def __init__(self, proto: bytes, languages, placeholders: bool = False):
        import sentencepiece as spm
        super().__init__(languages, placeholders)
        self.proto = proto
        processor = spm.SentencePieceProcessor(model_proto=proto)
        self.base_size = int(processor.get_piece_size())
        self.tokenizer = None
        self._slot_ids = None
        if self.placeholders:
            from zoo.models.slicenet.placeholders import slot_tokens
            self._slot_ids = [int(processor.piece_to_id(t)) for t in slot_tokens()]

    def slot_ids(self):
        return self._slot_ids

    def new_tokenizer(self):
        """A tensorflow-text tokenizer op for this model. Its kernel owns the SentencePiece
        resource, and `tf.random.set_seed` (called by the trainer) clears eager kernels, so
        eager callers get a fresh one; a SavedModel tracks the one it is given."""
        import tensorflow_text as tft
        return tft.SentencepieceTokenizer(model=self.proto, out_type="int32")

    def _op(self):
        return self.tokenizer if self.tokenizer is not None else self.new_tokenizer()

    def tf_encode(self, texts):
        return self._op().tokenize(texts)

    def _detokenize(self, ragged):
        return self._op().detokenize(ragged)


class ByteVocabulary(Vocabulary):
    kind = "bytes"
    base_size = NUM_SPECIAL + 256

    def tf_encode(self, texts):
        import tensorflow as tf
        chars = tf.strings.bytes_split(texts)
        values = tf.cast(tf.io.decode_raw(chars.flat_values, tf.uint8)[:, 0], tf.int32) + NUM_SPECIAL
        return chars.with_flat_values(values)

    def _detokenize(self, ragged):
        import tensorflow as tf
        table = tf.constant([bytes([i]) for i in range(256)])
        return tf.strings.reduce_join(tf.gather(table, ragged - NUM_SPECIAL), axis=-1)


def save_vocabulary(vocab: Vocabulary, folder) -> None:
    """The tokenizer into a run's (or an export's) artifacts: `tokenizer.json` and, for
    SentencePiece, the model proto `tokenizer.model`."""
    from zoo.io import atomic_write_json

    folder = Path(folder)
    if isinstance(vocab, SentencePieceVocabulary):
        atomic_write(folder / "tokenizer.model", vocab.proto)
    atomic_write_json(folder / "tokenizer.json", {"kind": vocab.kind, "languages": vocab.languages,
                                                  "placeholders": vocab.placeholders, "size": vocab.size})


def load_vocabulary(folder) -> Vocabulary | None:
    """The tokenizer saved by `save_vocabulary`, or None when `folder` has none."""
    import json

    folder = Path(folder)
    if not (folder / "tokenizer.json").is_file():
        return None
    meta = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    if meta["kind"] == "sentencepiece":
        return SentencePieceVocabulary((folder / "tokenizer.model").read_bytes(), meta["languages"],
                                       meta["placeholders"])
    return ByteVocabulary(meta["languages"], meta["placeholders"])


def _cache_dir() -> Path:
    return Path(os.environ.get("ZOO_CACHE", Path.home() / ".cache" / "zoo")) / "sentencepiece"


def train_sentencepiece(texts, vocab_size: int, character_coverage: float = 1.0, symbols=()) -> bytes:
    """A unigram SentencePiece model (ids 0-3 = PAD, EOS, UNK, GO) trained on `texts`;
    `symbols` (placeholder slots) are always single pieces.

    Deterministic (one thread, no sampling) and cached by a hash of the texts and settings, so a
    later export or evaluation of the same recipe gets the same tokenizer the model trained on.
    """
    import sentencepiece as spm

    texts = [t for t in texts if t]
    if not texts:
        raise ZooDataError("cannot train a SentencePiece model on an empty training split")
    settings = (vocab_size, character_coverage) + ((tuple(symbols),) if symbols else ())
    key = hashlib.sha256(repr(settings).encode() + "\n".join(texts).encode()).hexdigest()
    path = _cache_dir() / f"{key[:32]}.model"
    if path.is_file():
        return path.read_bytes()
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=out, vocab_size=vocab_size, model_type="unigram",
        pad_id=PAD, eos_id=EOS, unk_id=UNK, bos_id=GO, character_coverage=character_coverage,
        hard_vocab_limit=False, num_threads=1, shuffle_input_sentence=False, minloglevel=2,
        user_defined_symbols=list(symbols))
    proto = out.getvalue()
    atomic_write(path, proto)
    return proto


def build_vocabulary(kind: str, train_pairs, languages, model_vocab_size: int,
                     character_coverage: float = 1.0, placeholders: bool = False) -> Vocabulary:
    """The tokenizer of `task.tokenizer`, sized to fit the model's `vocab_size`."""
    extra = len(languages) if len(languages) > 1 else 0
    if kind == "bytes":
        vocab = ByteVocabulary(languages, placeholders)
    elif kind == "sentencepiece":
        sources, targets = [p.source for p in train_pairs], [p.target for p in train_pairs]
        symbols = ()
        if placeholders:  # pieces are learnt on the text the model sees: slots, not placeholders
            from zoo.models.slicenet.placeholders import protect, slot_tokens
            masked, values = protect(sources)
            sources = [t.decode("utf-8") for t in masked.numpy()]
            targets = [t.decode("utf-8") for t in protect(targets, values)[0].numpy()]
            symbols = slot_tokens()
        vocab = SentencePieceVocabulary(
            train_sentencepiece(sources + targets, model_vocab_size - extra, character_coverage, symbols),
            languages, placeholders)
    else:
        raise ZooDataError(f"unknown task.tokenizer {kind!r}; choose sentencepiece or bytes")
    if vocab.size > model_vocab_size:
        raise ZooDataError(f"the {kind} vocabulary needs {vocab.size} ids ({len(languages)} languages) "
                           f"but the model's vocab_size is {model_vocab_size}; raise model.vocab_size")
    return vocab


# -- sources longer than the model reads -------------------------------------------------------
# Where a source may be cut, strongest first: after a sentence end (the whitespace after it, or
# nothing after a CJK full stop) or at a line break; at whitespace; between characters.
_CUTS = (r"(?<=[.!?…])\s+|\s*\n\s*|(?<=[。！？؟])\s*", r"\s+", r"(?<=.)(?=.)")


def split_source(text: str, count, limit: int) -> list[tuple[str, str]]:
    """Pieces of `text` that each hold at most `limit` source tokens, with the text between a
    piece and the next (`"".join(p + sep for p, sep in pieces) == text`).

    `count(list[str]) -> list[int]` gives the tokens the model reads for each string
    (placeholders protected, EOS not counted). A text that fits is one piece. A longer one is
    cut after its sentences (one piece each: the model was trained on single messages); a
    sentence still too long is cut at whitespace, and a word still too long between characters,
    those pieces packed greedily up to the limit. Placeholders (`placeholders.PATTERN`) are
    not cut unless one alone is over the limit. Only a single character over it is an error.
    """
    n = count([text])[0]
    return [(p, sep) for p, sep, _ in _fit(text, 0, n, count, limit)]


def _fit(text, level, n, count, limit):
    if n <= limit:
        return [(text, "", n)]
    if level > len(_CUTS):
        raise ZooDataError(f"the source {text[:60]!r} alone is {n} tokens and cannot be split; this "
                           f"model reads at most {limit} source tokens")
    # The last level cuts between characters even inside a placeholder: one that alone is over
    # the limit is spelt out in pieces by a vocabulary that does not protect placeholders (a
    # long HTML link in Django's messages), and cutting it is the only way to translate it.
    units = _units(text, _CUTS[min(level, len(_CUTS) - 1)], protect=level < len(_CUTS))
    if len(units) == 1:
        return _fit(text, level + 1, n, count, limit)
    items = []
    for (unit, sep), m in zip(units, count([u for u, _ in units])):
        sub = _fit(unit, level + 1, m, count, limit)
        sub[-1] = (sub[-1][0], sep, sub[-1][2])
        items += sub
    return items if level == 0 else _pack(items, count, limit)


def _units(text, cut, protect: bool = True):
    """(unit, separator after it) at the matches of `cut` outside placeholders (anywhere when
    not `protect`)."""
    from zoo.models.slicenet.placeholders import PATTERN

    # RE2's \w and \s (the graph's) are ASCII.
    atoms = [m.span() for m in re.finditer(PATTERN, text, re.ASCII)] if protect else []
    out, start, a = [], 0, 0
    for m in re.finditer(cut, text, re.S):
        while a < len(atoms) and atoms[a][1] <= m.start():
            a += 1
        inside = a < len(atoms) and atoms[a][0] < m.end()  # overlaps (or, zero-width, splits) it
        if inside or m.start() <= start or m.end() >= len(text):
            continue
        out.append((text[start:m.start()], m.group()))
        start = m.end()
    out.append((text[start:], ""))
    return out


def _join(group):
    return "".join(t + sep for t, sep, _ in group[:-1]) + group[-1][0], group[-1][1]


def _pack(items, count, limit):
    """Adjacent pieces merged greedily while the merge fits (estimated, then counted)."""
    seps = sorted({sep for _, sep, _ in items})
    cost = dict(zip(seps, count(seps)))
    groups, est = [[items[0]]], items[0][2]
    for item in items[1:]:
        add = cost[groups[-1][-1][1]] + item[2]
        if est + add > limit:
            groups.append([item])
            est = item[2]
        else:
            groups[-1].append(item)
            est += add
    joined = [_join(g) for g in groups]
    out = []
    for g, (t, sep), n in zip(groups, joined, count([t for t, _ in joined])):
        out += [(t, sep, n)] if n <= limit else _halves(g, count, limit)
    return out


def _halves(group, count, limit):
    if len(group) == 1:
        return group
    t, sep = _join(group)
    n = count([t])[0]
    if n <= limit:
        return [(t, sep, n)]
    h = len(group) // 2
    return _halves(group[:h], count, limit) + _halves(group[h:], count, limit)


def translate_in_pieces(texts, translate, count, limit: int) -> list[str]:
    """Translations of `texts` with sources of any length: each is split by `split_source`,
    all pieces go to `translate(list[str]) -> list[str]` at once, and each text's translations
    are joined with the text between its pieces. An empty (or whitespace-only) text translates
    to ""."""
    texts = list(texts)
    plans = [[] if not t.strip() else None for t in texts]
    todo = [i for i, p in enumerate(plans) if p is None]
    for i, n in zip(todo, count([texts[i] for i in todo]) if todo else []):
        plans[i] = [(p, sep) for p, sep, _ in _fit(texts[i], 0, n, count, limit)]
    flat = [p for plan in plans for p, _ in plan]
    done = iter(translate(flat) if flat else [])
    return ["".join(next(done) + sep for _, sep in plan) for plan in plans]

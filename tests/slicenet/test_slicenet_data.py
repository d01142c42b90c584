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
        load_pairs(str(empty), ["de"])


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
    with pytest.raises(ZooDataError, match="unknown task.tokenizer"):
        build_vocabulary("words", train, ["de"], 300)


def _strings(tensor):
    return [t.decode("utf-8") for t in tensor.numpy()]


def test_placeholders_become_shared_slots_and_come_back_verbatim():
    from zoo.models.slicenet.placeholders import SLOTS, protect, restore

    src = ['Delete %(name)s and %(name)s? See <a href="https://x.org/a?b=1">docs</a>.', "plain text",
           "%s of %d", "Visit https://djangoproject.com now"]
    tgt = ['%(name)s und %(name)s löschen? <a href="https://x.org/a?b=1">Doku</a> %(other)s',
           "einfacher Text", "%d von %s", "Jetzt https://djangoproject.com besuchen"]
    masked, values = protect(src)
    # Equal placeholders share the slot of their first occurrence; a tag is one placeholder.
    assert _strings(masked) == ["Delete ⟦0⟧ and ⟦0⟧? See ⟦2⟧docs⟦3⟧.", "plain text", "⟦0⟧ of ⟦1⟧",
                                "Visit ⟦0⟧ now"]
    masked_t, _ = protect(tgt, values)
    # Targets take the source's slots (reordered too); a placeholder the source lacks stays text.
    assert _strings(masked_t) == ["⟦0⟧ und ⟦0⟧ löschen? ⟦2⟧Doku⟦3⟧ %(other)s", "einfacher Text",
                                  "⟦1⟧ von ⟦0⟧", "Jetzt ⟦0⟧ besuchen"]
    assert _strings(restore(masked_t, values)) == tgt
    assert _strings(restore(masked, values)) == src
    # A slot the source has no value for (a model's mistake) is dropped, not left as ⟦k⟧.
    assert _strings(restore(["⟦1⟧ a ⟦0⟧", "⟦0⟧b", "⟦9999⟧", "x"], values)) == [
        "%(name)s a %(name)s", "b", "", "x"]
    many = " ".join(f"%(f{i})s" for i in range(SLOTS + 1))
    m, _ = protect([many])
    assert _strings(m)[0].endswith(f"⟦{SLOTS - 1}⟧ %(f{SLOTS})s")  # slots run out: the rest stays text


def test_placeholders_round_trip_on_the_whole_corpus(de):
    from zoo.models.slicenet.placeholders import protect, restore

    sources, targets = [p.source for p in de], [p.target for p in de]
    masked, values = protect(sources)
    masked_t, _ = protect(targets, values)
    assert _strings(restore(masked, values)) == sources
    assert _strings(restore(masked_t, values)) == targets
    with_slots = sum("⟦0⟧" in t for t in _strings(masked))
    assert with_slots > len(de) // 5  # Django messages are full of format fields and markup
    assert sum("⟦0⟧" in t for t in _strings(masked_t)) > with_slots * 0.9


def test_sentencepiece_with_placeholders_keeps_each_slot_one_piece(de, tmp_path, monkeypatch):
    from zoo.models.slicenet.placeholders import slot_tokens

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path))
    train, _ = split_pairs(de, 0.1)
    plain = build_vocabulary("sentencepiece", train, ["de"], 400)
    vocab = build_vocabulary("sentencepiece", train, ["de"], 400, placeholders=True)
    assert vocab.placeholders and vocab.proto != plain.proto and len(list(tmp_path.rglob("*.model"))) == 2
    ids = vocab.encode(["a" + "".join(slot_tokens())])[0]
    slots = ids[-len(slot_tokens()):]  # one piece each, after the piece(s) of "a"
    assert len(set(slots)) == len(slots) and min(slots) >= NUM_SPECIAL and len(ids) <= len(slots) + 2
    src, tgt = vocab.encode_pairs(["Delete %(name)s?"], ["%(name)s löschen?"])
    slot0 = slots[0]
    assert slot0 in src[0] and slot0 in tgt[0]
    src_plain, _ = plain.encode_pairs(["Delete %(name)s?"], ["%(name)s löschen?"])
    assert len(src_plain[0]) > len(src[0])  # without slots the field is several pieces


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


def test_copied_targets_are_deterministic_target_copies(de):
    from zoo.models.slicenet.task import copied_target_pairs

    train, _ = split_pairs(de, 0.1)
    assert copied_target_pairs(train, 0.0) == []
    full = copied_target_pairs(train, 1.0)
    # One (target -> target) pair per distinct training target, none already a training pair.
    assert {p.target for p in full} == {p.target for p in train}
    assert all(p.source == p.target and p.language == "de" for p in full)
    half = copied_target_pairs(train, 0.5)
    assert half == copied_target_pairs(train, 0.5)
    assert set(half) < set(full) and 0.35 < len(half) / len(full) < 0.65
    with pytest.raises(ZooDataError, match="copied_targets must be in"):
        copied_target_pairs(train, 1.5)


def test_label_smoothing_changes_the_training_loss_only():
    import tensorflow as tf

    from zoo.config import load_recipe
    from zoo.models.slicenet.task import TranslationTask
    from zoo.registry import create_model

    eps, V = 0.1, 40
    recipe = {"model": {"name": "slicenet", "vocab_size": V, "filters": 16, "encoder_modules": 1,
                        "decoder_modules": 1, "dropout": 0.0},
              "task": {"name": "translation", "label_smoothing": eps}, "data": {"corpus": "django"}}
    task = TranslationTask(load_recipe(recipe))
    model = create_model("slicenet", build=True, vocab_size=V, filters=16, encoder_modules=1,
                         decoder_modules=1, dropout=0.0)
    rng = np.random.default_rng(0)
    batch = {"source": rng.integers(NUM_SPECIAL, V, (2, 5)).astype("int32"),
             "target_in": rng.integers(NUM_SPECIAL, V, (2, 4)).astype("int32"),
             "target": rng.integers(NUM_SPECIAL, V, (2, 4)).astype("int32")}
    batch["target"][1, 2:] = 0  # padding is not scored
    exact = task.batch_sums(model, batch, step=0, training=False)
    smooth = task.batch_sums(model, batch, step=0, training=True)
    logp = tf.nn.log_softmax(model({"source": batch["source"], "target_in": batch["target_in"]})).numpy()
    mask = batch["target"] > 0
    nll = -np.take_along_axis(logp, batch["target"][..., None], -1)[..., 0]
    expected = ((1 - eps) * nll - eps * logp.mean(-1))[mask].sum()
    np.testing.assert_allclose(float(exact["loss_sum"]), nll[mask].sum(), rtol=1e-5)
    np.testing.assert_allclose(float(smooth["loss_sum"]), expected, rtol=1e-5)
    assert float(smooth["count"]) == float(exact["count"]) == mask.sum()


def test_batches_group_similar_lengths_and_cover_every_pair_once():
    from zoo.config import load_recipe
    from zoo.models.slicenet.task import TranslationTask

    task = TranslationTask(load_recipe({
        "model": {"name": "slicenet", "vocab_size": 300},
        "task": {"name": "translation", "max_source_length": 48, "max_target_length": 40},
        "data": {"corpus": "django", "batch_size": 8}}))
    rng = np.random.default_rng(1)
    n = 101
    lengths = rng.integers(1, 41, size=(n, 2))
    data = ([[5] * int(a) for a, _ in lengths], [[3] * int(b) for _, b in lengths],
            [[6] * int(b) for _, b in lengths])
    assert task.bucket_boundaries() == [16, 32, 48]
    batches = task.batch_order(data, True, 7, drop_remainder=False)
    assert sorted(i for b in batches for i in b) == list(range(n))
    assert [len(b) for b in batches[:-1]] == [8] * (len(batches) - 1) and len(batches[-1]) == n % 8
    assert batches == task.batch_order(data, True, 7, False) != task.batch_order(data, True, 8, False)
    assert sum(map(len, task.batch_order(data, True, 7, drop_remainder=True))) == n // 8 * 8
    # The dataset pads each batch to its bucket (source capped at 48, targets at 40).
    shapes = set()
    for batch, ids in zip(task._dataset(data, True, 7, False), batches):
        longest = max(max(len(data[0][i]), len(data[2][i])) for i in ids)
        bucket = next(b for b in (16, 32, 48) if b >= longest)
        assert batch["source"].shape == (len(ids), bucket)
        assert batch["target"].shape == (len(ids), min(bucket, 40))
        np.testing.assert_array_equal((batch["target"].numpy() > 0).sum(1), [len(data[2][i]) for i in ids])
        shapes.add(bucket)
    assert shapes == {16, 32, 48}

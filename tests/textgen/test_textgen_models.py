"""The two sentence encoders: code shapes, padding that never changes a code, the hashed-bigram
path of UniSent, order sensitivity, the heads beside the encoder."""
import numpy as np
import pytest

import zoo
from zoo.models.textgen.model import PAD, InferSentEncoder, UniSentEncoder

SIZES = dict(vocab_size=40, embedding_dim=6, units=5, seed=2)
NAMES = ["infersent_encoder", "unisent_encoder"]


def _model(name, **extra):
    return zoo.create_model(name, build=True, **{**SIZES, **extra})


@pytest.mark.parametrize("name", NAMES)
def test_codes_have_the_declared_size_and_padding_never_changes_them(name):
    model = _model(name, num_topics=3)
    sentence = np.array([[7, 3, 12, 5]], "int32")
    alone = np.asarray(model(sentence))
    assert alone.shape == (1, model.code_dim) and alone.dtype == np.float32
    # The same sentence padded to 11 and batched beside a longer one and an empty one.
    batch = np.zeros([3, 11], "int32")
    batch[0, :4] = sentence[0]
    batch[1] = np.arange(1, 12)
    together = np.asarray(model(batch))
    np.testing.assert_allclose(together[0], alone[0], atol=1e-6)
    np.testing.assert_array_equal(together[2], np.zeros(model.code_dim))   # no token: the zero code
    assert np.abs(together[1] - together[0]).max() > 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_word_order_reaches_the_code(name):
    """The BiLSTM reads order; UniSent reads it only through its bigrams."""
    model = _model(name)
    forward, backward = np.array([[4, 9, 13, 21]], "int32"), np.array([[21, 13, 9, 4]], "int32")
    assert np.abs(np.asarray(model(forward)) - np.asarray(model(backward))).max() > 1e-4
    if name == "unisent_encoder":   # without bigram embeddings both orders average the same unigrams
        table = model.bigrams.embeddings
        table.assign(np.zeros(table.shape, "float32"))
        np.testing.assert_allclose(np.asarray(model(forward)), np.asarray(model(backward)), atol=1e-6)


def test_hashed_bigram_ids():
    model = UniSentEncoder(vocab_size=40, embedding_dim=4, bigram_buckets=17, units=3)
    ids = np.array([[5, 6, 5, 6, PAD, PAD], [6, 5, 1, 2, 3, 4]], "int32")
    got = np.asarray(model.bigram_ids(ids))
    want = np.array([[1 + (a * 40 + b) % 16 if a and b else 0 for a, b in zip(row[:-1], row[1:])] for row in ids])
    np.testing.assert_array_equal(got, want)
    assert got[0, 0] == got[0, 2] and got[0, 3] == 0 and got[0, 4] == 0   # one bigram, one row; padding 0
    assert got.min() >= 0 and got.max() < 17


def test_the_heads_sit_beside_the_encoder():
    model = _model("infersent_encoder", num_topics=4)
    ids = np.array([[3, 4, 5, PAD]], "int32")
    code = model(ids)
    assert np.asarray(model.topic_logits(code)).shape == (1, 4)
    assert np.asarray(model.pair_logits(code, code)).shape == (1,)
    bare = _model("infersent_encoder")
    assert bare.num_topics == 0 and len(bare.weights) < len(model.weights)
    with pytest.raises(ValueError, match="without training heads"):
        bare.topic_logits(code)
    # The heads add weights but never change the code of the same encoder weights.
    trained = {w.path.split("/", 1)[1]: w for w in model.weights}
    for w in bare.weights:
        w.assign(trained[w.path.split("/", 1)[1]].numpy())
    np.testing.assert_allclose(np.asarray(bare(ids)), np.asarray(code), atol=1e-6)


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match="units must be a positive integer, got 0"):
        InferSentEncoder(units=0)
    with pytest.raises(ValueError, match="bigram_buckets must be at least 2"):
        UniSentEncoder(bigram_buckets=1)
    with pytest.raises(ValueError, match="num_topics must be a non-negative integer"):
        UniSentEncoder(num_topics=-1)

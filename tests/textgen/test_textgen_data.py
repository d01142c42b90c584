"""Topic sentences: the stated sentence rule on examples, positions that mean adjacency, a split by
the sentence's hash that is the same on every call, and every topic in the held-out split."""
import collections

import pytest

from zoo.data import ZooDataError, content_hash
from zoo.data import sentences as D
from zoo.models.textgen.task import pairs


@pytest.mark.parametrize("text,pieces", [
    ("Dr. Smith met J. R. R. Tolkien in the U.S. in 1950. He left.",
     ["Dr. Smith met J. R. R. Tolkien in the U.S. in 1950.", "He left."]),
    ('He said "Stop!" Then he went home. Was it late? "Yes," she said.',
     ['He said "Stop!"', "Then he went home.", "Was it late?", '"Yes," she said.']),
    ("Numbers like 3.14 stay. So do e.g. lower-case words. (A bracket opens.) Done.",
     ["Numbers like 3.14 stay.", "So do e.g. lower-case words.", "(A bracket opens.)", "Done."]),
    ("No terminal punctuation here", ["No terminal punctuation here"]),
])
def test_the_sentence_rule_on_examples(text, pieces):
    assert D.split_sentences(text) == pieces


def test_the_filter_drops_headings_short_and_long_pieces():
    assert D.keep_sentence("This sentence has exactly five words.")
    assert not D.keep_sentence("Only four words here.")
    assert not D.keep_sentence("Etymology and terminology of the word anarchism")   # a heading
    assert not D.keep_sentence(" ".join(["word"] * 51) + ".")
    assert D.keep_sentence(" ".join(["word"] * 50) + ".")


def test_positions_count_the_dropped_pieces_so_adjacency_is_real():
    doc = ("Heading line\n\nThe first kept sentence is here. Too short. The third piece is kept "
           "too.\n\nAnother heading\n\nThe fifth piece starts a new paragraph here.")
    assert D.document_sentences(doc) == [
        (1, "The first kept sentence is here."), (3, "The third piece is kept too."),
        (5, "The fifth piece starts a new paragraph here.")]


@pytest.fixture(scope="module")
def wiki():
    return D.topic_sentences("wiki", "train"), D.topic_sentences("wiki", "test")


def test_the_split_is_by_the_sentence_hash_and_the_same_every_time(wiki):
    train, test = wiki
    assert len(test) > 500 and len(train) > 8 * len(test)
    assert {s.text for s in train}.isdisjoint({s.text for s in test})
    below = [content_hash(s.text.encode("utf-8"), D.PERSON) < D.TEST_FRACTION for s in train[:300] + test[:300]]
    assert below == [False] * len(train[:300]) + [True] * len(test[:300])
    D._split.cache_clear()   # read and split again from the corpus: the same sentences, in the same order
    assert (D.topic_sentences("wiki", "train"), D.topic_sentences("wiki", "test")) == (train, test)


def test_every_topic_is_in_the_held_out_split(wiki):
    train, test = wiki
    names = D.topic_names("wiki")
    held = collections.Counter(s.topic for s in test)
    assert len(names) > 50 and set(held) == set(range(len(names)))
    assert min(held.values()) >= D.MIN_TEST
    assert min(collections.Counter(s.topic for s in train).values()) >= D.MIN_TRAIN
    assert all(names[s.topic] == s.topic_name for s in train + test)
    for s in train[:2000]:
        assert D.MIN_WORDS <= len(s.text.split()) <= D.MAX_WORDS


def test_lee_and_bad_arguments():
    lee = D.topic_sentences("lee", "test")
    assert lee and {s.topic for s in lee} == set(range(len(D.topic_names("lee"))))
    with pytest.raises(ZooDataError, match="unknown topic-sentence corpus 'news'"):
        D.topic_sentences("news")
    with pytest.raises(ZooDataError, match="unknown split 'dev'"):
        D.topic_sentences("wiki", "dev")


def test_adjacency_pairs_are_adjacent_and_negatives_are_not():
    sentences = [D.TopicSentence(f"s{t}-{p}", t, f"t{t}", p) for t in range(3) for p in (0, 1, 2, 4, 5, 9, 11)]
    for same_topic in (True, False):
        partner, label, weight = pairs(sentences, seed=1, same_topic=same_topic)
        for i, s in enumerate(sentences):
            other = sentences[partner[i]]
            if label[i]:
                assert weight[i] == 1 and other.topic == s.topic and abs(other.position - s.position) == 1
            else:
                assert other.topic != s.topic or abs(other.position - s.position) > 1
                if same_topic:
                    assert other.topic == s.topic
            # positions 9 and 11 have no neighbour in the list: no adjacency loss for them
            assert weight[i] == (s.position not in (9, 11))
        assert 0 < label.sum() < weight.sum()

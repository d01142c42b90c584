"""The argument checks every stacked family shares (`zoo/layers/checks.py`): one wording, from
every model that serves a depth."""
import numpy as np
import pytest

from zoo.layers.checks import check_depth, check_positive_int, check_rate


def test_check_depth_takes_a_depth_of_the_stack_or_all_of_it():
    assert check_depth(None, 3) == 3
    assert [check_depth(d, 3) for d in (1, 2, 3)] == [1, 2, 3]
    for bad in (0, 4, -1, True, 2.0, "2"):
        with pytest.raises(ValueError, match=rf"^depth must be an integer in 1\.\.3, got {bad!r}$"):
            check_depth(bad, 3)


def test_positive_ints_and_rates_are_named():
    assert check_positive_int("units", 5) == 5 and check_positive_int("units", None, allow_none=True) is None
    for bad in (0, None, True, 1.5):
        with pytest.raises(ValueError, match=rf"^units must be a positive integer, got {bad!r}$"):
            check_positive_int("units", bad)
    assert check_rate("dropout", 0) == 0.0 and isinstance(check_rate("dropout", 0), float)
    for bad in (1.0, -0.1, True, "0.5"):
        with pytest.raises(ValueError, match=r"^dropout must be a number in \[0, 1\), got "):
            check_rate("dropout", bad)


def _depth_users():
    from zoo.models.lm.model import RNNLM
    from zoo.models.recurrent.model import StackedRNN
    from zoo.models.recurrent.seq2seq import Seq2SeqLSTM

    ids = np.zeros((1, 3), "int32")
    lm = RNNLM(vocab_size=5, num_layers=2, units=4, embedding_dim=4)
    stack = StackedRNN(num_layers=2, units=4, input_vocab=5)
    s2s = Seq2SeqLSTM(num_layers=2, units=4, input_vocab=5, num_outputs=5)
    return {"RNNLM.initial_state": lambda d: lm.initial_state(1, depth=d),
            "RNNLM.forward": lambda d: lm.forward(ids, depth=d),
            "RNNLM.step": lambda d: lm.step(ids[:, 0], lm.initial_state(1), depth=d),
            "StackedRNN.encode": lambda d: stack.encode(ids, depth=d),
            "Seq2SeqLSTM.encode_states": lambda d: s2s.encode_states(ids, depth=d)}


def test_every_stacked_model_refuses_a_depth_past_its_stack_in_the_same_words():
    for where, run in _depth_users().items():
        with pytest.raises(ValueError, match=r"^depth must be an integer in 1\.\.2, got 3$"):
            run(3)
        assert run(1) is not None, where

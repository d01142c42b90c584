"""Recurrent family: dropout LSTM/GRU cells (Semeniuta's dissertation, ch. 3), stacked LSTMs with
greedy layer-wise pretraining (seed 004),
the seq2seq stacked LSTM, their tasks and the Temporal Order generator."""
from zoo.models.recurrent.cells import DropoutGRUCell, DropoutLSTMCell, DropoutRNN, make_cell
from zoo.models.recurrent.model import StackedRNN
from zoo.models.recurrent.seq2seq import Seq2SeqLSTM
from zoo.models.recurrent import task  # noqa: F401  (registers the recurrent task)

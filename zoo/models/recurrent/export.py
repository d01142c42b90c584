"""Serving export of the recurrent family: one SavedModel per stack depth, the "model after d
layers" that greedy layer-wise training builds up (Xu et al., "Greedy Layer-wise Training of
Long Short Term Memory Networks", §3.5).

`depth_{d}/` serves the model after its first d recurrent layers with the supervised head on top
(`StackedRNN.call(x, depth=d)`), d = 1..num_layers; the length axis is dynamic (the recurrent
loop is a graph while-loop over any number of steps).

Signature `predict` of `depth_{d}/`:
    {"inputs": float32 [None, None, input_dim]  (or int32 [None, None] symbol ids)}
        -> {"outputs": float32 [None, num_outputs]  (readout "last")
                       or [None, None, num_outputs] (readout "sequence")}
Seq2SeqLSTM (d encoder + d decoder layers):
    {"source": int32 [None, None], "decoder_inputs": int32 [None, None] (GO first)}
        -> {"outputs": float32 [None, None, num_outputs]} (teacher-forced next-symbol logits)
serving_default is `predict`. Inputs are checked in the graph: float inputs must have shape
[batch, time, input_dim] and finite values, symbol ids shape [batch, time] and values in
[0, vocab) (source: input_vocab, decoder_inputs: num_outputs), so an id one past the vocabulary
is an error rather than an all-zero one-hot row.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from zoo.export import (ExportClient, ExportError, Predictor, SavedModelSpec, ServingModule, checked_input,
                        select_served)


def _ids(x, key: str, vocab: int):
    what = "symbol ids" if key == "inputs" else f"{key} ids"
    return checked_input(x, key, ["batch", "time"], value_range=(0, vocab - 1), values=what)


class StackedRNNServing(ServingModule):
    """The `predict` function of a StackedRNN cut after `depth` layers."""

    def __init__(self, model, depth: int):
        super().__init__(model, name=f"stacked_rnn_depth{depth}")
        self.depth = depth
        if getattr(model, "is_seq2seq", False):
            self.predict = tf.function(self._predict_seq2seq, input_signature=[
                tf.TensorSpec([None, None], tf.int32, name="source"),
                tf.TensorSpec([None, None], tf.int32, name="decoder_inputs")])
            return
        if model.input_vocab is not None:
            spec = tf.TensorSpec([None, None], tf.int32, name="inputs")
        else:
            spec = tf.TensorSpec([None, None, model.input_dim], tf.float32, name="inputs")
        self.predict = tf.function(self._predict, input_signature=[spec])

    def _predict(self, inputs):
        m = self.model
        if m.input_vocab is not None:
            inputs = _ids(inputs, "inputs", m.input_vocab)
        else:
            inputs = checked_input(inputs, "inputs", ["batch", "time", m.input_dim], finite=True)
        return {"outputs": m(inputs, training=False, depth=self.depth)}

    def _predict_seq2seq(self, source, decoder_inputs):
        source = _ids(source, "source", self.model.input_vocab)
        decoder_inputs = _ids(decoder_inputs, "decoder_inputs", self.model.num_outputs)
        return {"outputs": self.model((source, decoder_inputs), training=False, depth=self.depth)}


def export_recurrent(model, task, depths):
    """One SavedModel per stack depth (all 1..num_layers when `depths` is None)."""
    served = range(1, model.num_layers + 1)
    for d in select_served(depths, served, "depths", f"this {model.num_layers}-layer stack"):
        module = StackedRNNServing(model, d)
        yield SavedModelSpec(
            name=f"depth_{d}", module=module, signatures={"predict": module.predict}, default="predict",
            info={"depth": d, "num_layers": model.num_layers, "units": model.units,
                  "readout": model.readout, "num_outputs": model.num_outputs})


class RecurrentClient(ExportClient, Predictor):
    """Reads a recurrent export: `predict(inputs, depth)` through the SavedModel of that depth."""

    family = "recurrent"
    what = "recurrent model"

    @property
    def depths(self) -> list[int]:
        return sorted(e["depth"] for e in self.entries.values())

    def predict(self, inputs, depth: int | None = None) -> np.ndarray:
        """Outputs of the model after `depth` layers (default: all of them). `inputs` is the
        batch array, or for a seq2seq model a dict {"source", "decoder_inputs"}; anything else
        (a text, a number) is an ExportError."""
        if isinstance(inputs, (str, bytes)) or np.isscalar(inputs):
            raise ExportError(f"predict takes a batch array (or a dict of them for a seq2seq model), "
                              f"got {type(inputs).__name__}")
        depth = max(self.depths) if depth is None else depth
        if depth not in self.depths:
            raise ExportError(f"this export has no depth {depth}; exported depths: {self.depths}")
        name = next(n for n, e in self.entries.items() if e["depth"] == depth)
        return self.call(name, "predict", inputs)["outputs"]

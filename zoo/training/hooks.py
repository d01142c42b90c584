"""Hooks an `Update` runs after its gradients are applied (`Update.after`), inside the
distributed step, in cross-replica context: an assignment there reaches every replica's copy of
a variable alike, so replicas stay identical.

- `MovingAverage`: an exponential moving copy of variables, v' <- decay v' + (1 - decay) v
  after every update: Polyak averaging of weights, or SeqGAN's rollout network, a delayed copy
  of the generator ("SeqGAN: Sequence Generative Adversarial Nets with Policy Gradient", Yu et
  al., 2017, Algorithm 1). A `tf.Module`: put it in `Update.modules` and it is checkpointed
  and resumed with the phase.
- `clip_weights`: every weight clipped to [-limit, limit] after each update, the critic of
  "Wasserstein GAN" (Arjovsky et al., 2017, Algorithm 1, c = 0.01).
"""
from __future__ import annotations

from typing import Callable, Sequence

import tensorflow as tf


class MovingAverage(tf.Module):
    """An exponential moving copy of `variables` (create it under the strategy scope, e.g. in
    `Task.phases`). `average` holds the copies, in the order of `variables`."""

    def __init__(self, variables: Sequence, decay: float, name: str = "moving_average"):
        super().__init__(name=name)
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"moving average decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        variables = list(variables)
        self._sources = lambda: variables   # a function: the checkpoint holds the copies only
        self.average = [tf.Variable(tf.convert_to_tensor(v), trainable=False, name=f"average_{i}")
                        for i, v in enumerate(variables)]

    def update(self, model=None, *, step=None):
        """`Update.after`: one step of the average towards the current variables."""
        for avg, v in zip(self.average, self._sources()):
            avg.assign(self.decay * avg + (1.0 - self.decay) * tf.convert_to_tensor(v))


def clip_weights(variables: Callable[[], list], limit: float) -> Callable[..., None]:
    """`Update.after`: clip every variable of `variables()` to [-limit, limit]."""
    if limit <= 0:
        raise ValueError(f"clip limit must be > 0, got {limit}")

    def after(model=None, *, step=None):
        for v in variables():
            v.assign(tf.clip_by_value(tf.convert_to_tensor(v), -limit, limit))

    return after

"""Learning-rate schedules of the recipe's `trainer.lr_schedule`, each a function of the
optimizer's iteration count, so a resumed run continues on the same curve.

- `step`: the learning rate steps down (halved every 10 epochs by default;
  `lr_decay_start_epochs` delays the first step, e.g. x 0.97 per epoch after epoch 10).
- `cosine`: half a cosine to zero over the run's steps ("SGDR: Stochastic Gradient Descent with
  Warm Restarts", Loshchilov and Hutter, 2017, Eq. 5, one cycle), after `lr_warmup_steps` of
  linear warm-up.
- `plateau`: a plain variable the trainer divides after each evaluation that does not improve
  the objective (`Trainer._plateau`).
"""
from __future__ import annotations

import keras
from keras import ops


class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr * factor ** n, n = 0 before step `start`, then 1 + (step - start) // every."""

    def __init__(self, lr, every, factor, start):
        self.lr, self.every, self.factor, self.start = float(lr), int(every), float(factor), int(start)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        n = ops.where(step < self.start, 0.0, 1.0 + ops.floor((step - self.start) / self.every))
        return self.lr * ops.power(self.factor, n)

    def get_config(self):
        return {"lr": self.lr, "every": self.every, "factor": self.factor, "start": self.start}


def learning_rate_schedule(trainer_config, steps_per_epoch: int, total_steps: int | None = None):
    """The learning rate (a schedule, or a float for `plateau`) of `trainer_config`."""
    t = trainer_config
    if t.lr_schedule == "cosine":
        warmup = min(t.lr_warmup_steps, max(0, (total_steps or 1) - 1))
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else t.learning_rate, max(1, (total_steps or 1) - warmup), alpha=0.0,
            warmup_target=t.learning_rate if warmup else None, warmup_steps=warmup)
    if t.lr_schedule == "plateau":
        return t.learning_rate   # a variable the trainer lowers after evaluations
    decay_steps = max(1, int(round(t.lr_decay_every_epochs * steps_per_epoch)))
    start = (decay_steps if t.lr_decay_start_epochs is None
             else int(round(t.lr_decay_start_epochs * steps_per_epoch)))
    return StepDecay(t.learning_rate, decay_steps, t.lr_decay_factor, start)

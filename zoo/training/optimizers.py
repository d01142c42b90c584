"""The optimizer of a recipe (or of one update of a phase): any optimizer Keras knows by name.

Recipe form: `trainer.optimizer: adam` and `trainer.optimizer_args: {beta_1: 0.5, beta_2: 0.9}`.
Why two keys rather than one mapping: the settings every optimizer shares and the trainer itself
drives (the learning rate and its schedule, weight decay, gradient-norm clipping, and SGD's
momentum) stay typed fields of `trainer`, so `--set trainer.learning_rate=...`, tuning spaces
and `zoo report` keys address them the same way whatever the optimizer; only what one
optimizer alone takes goes into `optimizer_args`, checked against that optimizer's constructor
when the recipe loads (`zoo.config.check_optimizer`): an unknown name or argument is one line.
Recipes written before (`optimizer: sgd | adam` with momentum, weight_decay, clipnorm and a
schedule) build the very same optimizers as before.
"""
from __future__ import annotations

from zoo.config import keras_optimizer_class


def make_optimizer(trainer_config, steps_per_epoch: int, total_steps: int | None = None):
    """The optimizer `trainer_config` names, with its learning-rate schedule
    (`zoo.training.schedules`), weight decay, clipping and `optimizer_args`."""
    from zoo.training.schedules import learning_rate_schedule

    t = trainer_config
    cls = keras_optimizer_class(t.optimizer)
    kwargs = dict(learning_rate=learning_rate_schedule(t, steps_per_epoch, total_steps),
                  weight_decay=t.weight_decay or None, clipnorm=t.clipnorm, **t.optimizer_args)
    if cls.__name__ == "SGD":
        kwargs["momentum"] = t.momentum   # trainer.momentum is SGD's; others take theirs in optimizer_args
    return cls(**kwargs)

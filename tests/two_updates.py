"""A task whose one phase has two updates with two optimizers, for the kill/resume test:
block-coordinate descent on the adding problem, the first LSTM layer by SGD with momentum and
everything else by Adam, applied twice per step (each application on its own batch).

Run as `python -m tests.two_updates train RECIPE ...`: it registers the task, then runs the
`zoo` command line.
"""
import sys

from zoo.models.recurrent.task import AddingTask
from zoo.registry import register_task
from zoo.training.task import Phase, Update


@register_task("adding_two_updates", family="recurrent", smoke_recipe="recurrent/smoke_adding")
class TwoUpdateAddingTask(AddingTask):
    def phases(self, model):
        first = model.layer_variables(0)
        rest = [v for v in model.trainable_variables if all(v is not w for w in first)]
        return [Phase("train", (
            Update("layer1", self.batch_sums, lambda: first,
                   optimizer={"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9}),
            Update("rest", self.batch_sums, lambda: rest, repeat=2)))]


if __name__ == "__main__":
    from zoo_env import main

    sys.exit(main(sys.argv[1:]))

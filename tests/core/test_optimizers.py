"""Any Keras optimizer from the recipe (`trainer.optimizer` + `trainer.optimizer_args`), per
update too, each mistake one line; the earlier recipe form builds the very same optimizers."""
import keras
import pytest

from tests.helpers import tiny_recipe
from zoo.config import RecipeError, TrainerConfig, load_recipe
from zoo.training.optimizers import make_optimizer
from zoo.training.task import Phase, Update
from zoo.training.trainer import Trainer


def _trainer(**trainer):
    return tiny_recipe("unused", trainer=trainer).trainer


def test_a_named_optimizer_gets_its_own_arguments():
    adam = make_optimizer(_trainer(optimizer="adam", optimizer_args={"beta_1": 0.5, "beta_2": 0.9,
                                                                      "epsilon": 1e-6}), 10)
    assert type(adam) is keras.optimizers.Adam
    assert (adam.beta_1, adam.beta_2, adam.epsilon) == (0.5, 0.9, 1e-6)
    rms = make_optimizer(_trainer(optimizer="rmsprop", optimizer_args={"rho": 0.8, "momentum": 0.1},
                                  clipnorm=2.0), 10)
    assert type(rms) is keras.optimizers.RMSprop and (rms.rho, rms.momentum, rms.clipnorm) == (0.8, 0.1, 2.0)
    adamw = make_optimizer(_trainer(optimizer="adamw", weight_decay=0.01), 10)
    assert type(adamw) is keras.optimizers.AdamW and adamw.weight_decay == 0.01
    # trainer.momentum is SGD's: another optimizer does not silently take it.
    assert make_optimizer(_trainer(optimizer="rmsprop", momentum=0.9), 10).momentum == 0.0


def _unnamed(optimizer):
    return {k: v for k, v in optimizer.get_config().items() if k != "name"}


def test_the_earlier_recipe_form_builds_the_same_optimizers():
    t = _trainer(optimizer="sgd", momentum=0.8, weight_decay=1e-5, clipnorm=1.0, learning_rate=0.1)
    sgd = make_optimizer(t, 10)
    want = keras.optimizers.SGD(learning_rate=sgd._learning_rate, momentum=0.8, weight_decay=1e-5, clipnorm=1.0)
    assert _unnamed(sgd) == _unnamed(want)
    adam = make_optimizer(_trainer(optimizer="adam", weight_decay=0.0), 10)
    assert _unnamed(adam) == _unnamed(keras.optimizers.Adam(learning_rate=adam._learning_rate))
    assert TrainerConfig().optimizer_args == {}


@pytest.mark.parametrize("trainer, message", [
    ({"optimizer": "adamm"}, r"unknown trainer.optimizer 'adamm'; Keras knows .*adamw.*rmsprop"),
    ({"optimizer": "adam", "optimizer_args": {"rho": 0.9}},
     r"trainer.optimizer_args.rho: adam takes no argument 'rho'; it takes .*beta_1"),
    ({"optimizer": "rmsprop", "optimizer_args": {"learning_rate": 0.1}},
     r"trainer.optimizer_args.learning_rate: set trainer.learning_rate instead"),
    ({"optimizer": "sgd", "optimizer_args": {"momentum": 0.5}},
     r"trainer.optimizer_args.momentum: set trainer.momentum instead"),
    ({"optimizer_args": [1, 2]}, r"trainer.optimizer_args must be a mapping"),
])
def test_a_bad_optimizer_is_one_line(trainer, message):
    with pytest.raises(RecipeError, match=message) as e:
        tiny_recipe("unused", trainer=trainer)
    assert "\n" not in str(e.value)


def test_an_override_on_the_command_line_is_checked_too():
    config = tiny_recipe("unused")
    assert config.with_overrides(["trainer.optimizer=rmsprop", "trainer.optimizer_args={rho: 0.7}"]
                                 ).trainer.optimizer_args == {"rho": 0.7}
    with pytest.raises(RecipeError, match="unknown trainer.optimizer 'nope'"):
        config.with_overrides(["trainer.optimizer=nope"])


def test_each_update_may_name_its_own_optimizer(tmp_path):
    """An update naming another optimizer does not inherit the recipe's optimizer_args, and a
    mistake in an update's settings names the update."""
    config = tiny_recipe(tmp_path, trainer={"optimizer": "adam", "optimizer_args": {"beta_1": 0.5}})
    trainer = Trainer(config, log=lambda *a, **k: None)
    noop = lambda *a, **k: {}   # noqa: E731
    phase = Phase("p", (Update("u", noop, list),))

    def settings(**optimizer):
        return trainer._update_settings(phase, Update("u", noop, list, optimizer=optimizer))

    assert settings().optimizer_args == {"beta_1": 0.5}
    assert settings(optimizer="rmsprop").optimizer_args == {}
    assert settings(optimizer="rmsprop", optimizer_args={"rho": 0.5}).optimizer_args == {"rho": 0.5}
    with pytest.raises(RecipeError, match=r"update 'u' of phase 'p': unknown trainer.optimizer 'adamm'"):
        settings(optimizer="adamm")
    with pytest.raises(RecipeError, match=r"update 'u' of phase 'p': trainer.optimizer_args.rho: adam takes"):
        settings(optimizer_args={"rho": 0.5})
    with pytest.raises(RecipeError, match=r"sets unknown trainer keys \['beta_1'\]"):
        settings(beta_1=0.5)


def test_every_shipped_recipe_still_builds_its_optimizer():
    from zoo.config import REPO_RECIPES

    for path in sorted(REPO_RECIPES.glob("*/*.yaml")):
        if path.name == "experiments.yaml":
            continue
        t = load_recipe(path).trainer
        assert type(make_optimizer(t, 10)).__name__.lower() == t.optimizer, path

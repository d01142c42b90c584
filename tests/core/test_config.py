import dataclasses
import warnings

import pytest
import yaml

from zoo.config import REPO_RECIPES, RecipeError, load_recipe, save_recipe
from zoo.report.spec import EXPERIMENTS_FILE


def test_every_shipped_recipe_loads_in_the_current_form():
    recipes = sorted(p for p in REPO_RECIPES.rglob("*.yaml") if p.name != EXPERIMENTS_FILE)
    assert recipes
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no shipped recipe is in the old form
        for path in recipes:
            cfg = load_recipe(path)
            # Named after the file, but each family's smoke recipe after its family too (their
            # run folders, runs/<name>, must not collide: tests/core/test_cli_inputs.py).
            assert cfg.name == (f"{path.parent.name}_smoke" if path.stem == "smoke" else path.stem)
            assert "options" not in yaml.safe_load(path.read_text()).get("data", {})


def test_unknown_keys_are_named():
    with pytest.raises(RecipeError, match=r"'trainer\.epochz'"):
        load_recipe("byte_rcae/default", ["trainer.epochz=3"])
    with pytest.raises(RecipeError, match=r"'model\.featurez'"):
        load_recipe("byte_rcae/default", ["model.featurez=3"])
    with pytest.raises(RecipeError, match="'trainerz'"):
        load_recipe({"trainerz": {}})
    with pytest.raises(RecipeError, match="unknown model 'nope'"):
        load_recipe({"model": {"name": "nope"}})


def test_task_options_are_typed_and_named():
    # An unknown option names itself and the valid ones.
    with pytest.raises(RecipeError, match=r"unknown recipe key 'task\.lenght'; valid keys in 'task':.*length"):
        load_recipe("recurrent/adding", ["task.lenght=3"])
    # A wrong type names the expected type.
    with pytest.raises(RecipeError, match=r"task\.length must be an integer, got 'long'"):
        load_recipe("recurrent/adding", ["task.length=long"])
    with pytest.raises(RecipeError, match=r"task\.tokenizer must be one of 'sentencepiece', 'bytes'"):
        load_recipe("slicenet/bytenet", ["task.tokenizer=words"])
    with pytest.raises(RecipeError, match=r"task\.languages must be a list of strings"):
        load_recipe("slicenet/bytenet", ["task.languages=de"])
    with pytest.raises(RecipeError, match=r"task\.placeholders must be true or false"):
        load_recipe("slicenet/bytenet", ["task.placeholders=3"])
    # Values the task rejects are named too.
    with pytest.raises(RecipeError, match="length must be a positive integer"):
        load_recipe("recurrent/adding", ["task.length=0"])
    with pytest.raises(RecipeError, match="unknown task 'copy'"):
        load_recipe("recurrent/adding", ["task.name=copy"])
    # The recipe chooses the task; the typed options come back typed.
    cfg = load_recipe("slicenet/bytenet", ["task.length_penalty=1"])
    assert cfg.task.name == "translation" and cfg.task.options.length_penalty == 1.0
    assert isinstance(cfg.task.options.length_penalty, float) and cfg.task.options.languages == ("de",)


def test_type_errors_are_named():
    with pytest.raises(RecipeError, match=r"trainer\.max_steps must be a positive integer or null, got .many."):
        load_recipe("byte_rcae/default", ["trainer.max_steps=many"])
    with pytest.raises(RecipeError, match=r"trainer\.optimizer must be a string, got 3"):
        load_recipe("byte_rcae/default", ["trainer.optimizer=3"])
    with pytest.raises(RecipeError, match=r"unknown trainer\.optimizer 'rmsprp'; Keras knows .*rmsprop"):
        load_recipe("byte_rcae/default", ["trainer.optimizer=rmsprp"])
    with pytest.raises(RecipeError, match=r"trainer\.clipnorm must be a number > 0 or null"):
        load_recipe("byte_rcae/default", ["trainer.clipnorm=big"])


def test_the_loaded_config_is_frozen():
    cfg = load_recipe("byte_rcae/default")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.data.corpus = "arabic"
    with pytest.raises(TypeError):
        cfg.model.args["n"] = 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.task.options.max_length = 8
    changed = cfg.with_overrides(["data.corpus=arabic", "model.n=4"])
    assert changed.data.corpus == "arabic" and changed.model.args["n"] == 4
    assert cfg.data.corpus == "english" and cfg.model.args.get("n") is None


def test_overrides_and_resolved_copy(tmp_path):
    cfg = load_recipe("byte_rcae/default", ["model.n=4", "trainer.learning_rate=0.01", "data.corpus=arabic"])
    assert cfg.model.args["n"] == 4 and cfg.trainer.learning_rate == 0.01 and cfg.data.corpus == "arabic"
    save_recipe(cfg, tmp_path / "recipe.yaml")
    raw = yaml.safe_load((tmp_path / "recipe.yaml").read_text())
    assert raw["model"]["n"] == 4 and raw["model"]["name"] == "byte_rcae_n2"
    assert raw["task"] == {"name": "byte_autoencoder", **dataclasses.asdict(cfg.task.options)}
    again = load_recipe(tmp_path / "recipe.yaml")
    assert again.to_dict() == cfg.to_dict()


def test_old_form_keys_become_task_options():
    """The earlier layout: task knobs in data.options and in the generic sections."""
    with pytest.warns(FutureWarning, match="old form"):
        cfg = load_recipe("byte_rcae/default", ["data.max_length=32", "trainer.divide_shared_gradients=false",
                                                "eval.mutation_steps=3"])
    o = cfg.task.options
    assert (o.max_length, o.divide_shared_gradients, o.mutation_steps) == (32, False, 3)
    with pytest.warns(FutureWarning):
        cfg = load_recipe("recurrent/adding", ["data.options.pretrain_epochs=2"])
    assert cfg.task.name == "adding" and cfg.task.options.pretrain_epochs == 2.0
    # data.options.task picked the problem; a key the task does not have is still an error.
    with pytest.raises(RecipeError, match=r"unknown recipe key 'task\.T'"):
        load_recipe({"model": {"name": "stacked_lstm_adding"}, "data": {"options": {"task": "adding", "T": 5}}})
    with pytest.warns(FutureWarning):
        cfg = load_recipe({"model": {"name": "seq2seq_lstm_digits"},
                           "data": {"options": {"task": "digit_seq2seq", "transform": "sort"}}})
    assert cfg.task.options.transform == "sort"


def test_a_recipe_names_its_task_or_gets_the_familys_default():
    cfg = load_recipe({"model": {"name": "byte_rcae_n2"}})
    assert cfg.task.name == "byte_autoencoder"
    with pytest.raises(RecipeError, match="missing"):
        load_recipe({"task": {"name": "adding"}})


def test_missing_recipe():
    with pytest.raises(RecipeError, match="recipe not found"):
        load_recipe("byte_rcae/does_not_exist")


def test_a_model_argument_whose_constructor_default_is_none_takes_null():
    # lstm_lm registers init_scale=0.05 over RNNLM(init_scale=None): null (Keras's start) is a value.
    cfg = load_recipe("lm/smoke", ["model.init_scale=null"])
    assert cfg.model.kwargs()["init_scale"] is None
    assert load_recipe("lm/smoke", ["model.init_scale=0.01"]).model.kwargs()["init_scale"] == 0.01
    with pytest.raises(RecipeError, match=r"model\.init_scale must be a number"):
        load_recipe("lm/smoke", ["model.init_scale=wide"])
    # An argument the constructor needs a value for still refuses null.
    with pytest.raises(RecipeError, match=r"model\.units may not be null"):
        load_recipe("lm/smoke", ["model.units=null"])


def test_the_char_lm_recipes_start_as_keras_starts():
    for name in ("lm/char_lstm", "lm/char_gru", "lm/paper_char_lstm"):
        assert load_recipe(name).model.kwargs()["init_scale"] is None, name

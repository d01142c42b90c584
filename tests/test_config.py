import pytest
import yaml

from zoo.config import RecipeError, load_recipe, save_recipe, REPO_RECIPES


def test_every_shipped_recipe_loads():
    recipes = sorted(REPO_RECIPES.rglob("*.yaml"))
    assert recipes
    for path in recipes:
        cfg = load_recipe(path)
        assert cfg.name == path.stem


def test_unknown_keys_are_named():
    with pytest.raises(RecipeError, match=r"'trainer\.epochz'"):
        load_recipe("byte_rcae/default", ["trainer.epochz=3"])
    with pytest.raises(RecipeError, match=r"'model\.featurez'"):
        load_recipe("byte_rcae/default", ["model.featurez=3"])
    with pytest.raises(RecipeError, match="'trainerz'"):
        load_recipe({"trainerz": {}})
    with pytest.raises(RecipeError, match="unknown model 'nope'"):
        load_recipe({"model": {"name": "nope"}})


def test_type_errors_are_named():
    with pytest.raises(RecipeError, match=r"'trainer\.max_steps' must be an integer"):
        load_recipe("byte_rcae/default", ["trainer.max_steps=many"])


def test_overrides_and_resolved_copy(tmp_path):
    cfg = load_recipe("byte_rcae/default", ["model.n=4", "trainer.learning_rate=0.01", "data.corpus=arabic"])
    assert cfg.model.args["n"] == 4 and cfg.trainer.learning_rate == 0.01 and cfg.data.corpus == "arabic"
    save_recipe(cfg, tmp_path / "recipe.yaml")
    raw = yaml.safe_load((tmp_path / "recipe.yaml").read_text())
    assert raw["model"]["n"] == 4 and raw["model"]["name"] == "byte_rcae_n2"
    again = load_recipe(tmp_path / "recipe.yaml")
    assert again.to_dict() == cfg.to_dict()


def test_missing_recipe():
    with pytest.raises(RecipeError, match="recipe not found"):
        load_recipe("byte_rcae/does_not_exist")

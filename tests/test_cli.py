"""User-facing entry points: clear one-line errors (exit 2), never a traceback."""
import pytest

from zoo.cli import main
from tests.helpers import tiny_recipe
from zoo.config import save_recipe


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "tiny.yaml"
    save_recipe(tiny_recipe(tmp_path / "run", trainer={"max_steps": 2}), path)
    return path


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, message", [
    (["--set", "trainer.epochz=3"], "unknown recipe key 'trainer.epochz'"),
    (["--set", "model.widthh=3"], "unknown recipe key 'model.widthh'"),
    (["--data", "/no/such/corpus.txt"], "not found: /no/such/corpus.txt"),
])
def test_train_errors_are_one_clear_line(capsys, recipe, args, message):
    code, out, err = run_cli(capsys, "train", recipe, *args)
    assert code == 2
    assert message in err and err.startswith("zoo: error:") and "Traceback" not in err


def test_empty_corpus(capsys, recipe, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n   \n\n")
    code, _, err = run_cli(capsys, "train", recipe, "--data", empty)
    assert code == 2 and "no usable paragraph" in err


def test_over_long_text_rejected_when_the_recipe_says_so(capsys, recipe, tmp_path):
    long = tmp_path / "long.txt"
    long.write_text("word " * 100)
    code, _, err = run_cli(capsys, "train", recipe, "--data", long, "--set", "data.overflow=reject")
    assert code == 2 and "data.overflow=split" in err


def test_export_and_eval_of_something_that_is_not_a_run(capsys, tmp_path):
    code, _, err = run_cli(capsys, "export", tmp_path, "--out", tmp_path / "out")
    assert code == 2 and "not a run directory" in err
    code, _, err = run_cli(capsys, "eval", tmp_path / "missing")
    assert code == 2 and "no such run or export directory" in err


def test_list_prints_registered_models(capsys):
    code, out, _ = run_cli(capsys, "list", "byte_rcae_n*")
    assert code == 0 and out.split()[::2] == ["byte_rcae_n16", "byte_rcae_n2", "byte_rcae_n4", "byte_rcae_n8"]

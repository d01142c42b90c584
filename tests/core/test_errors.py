"""One base for every user error: `zoo.errors.ZooError`, the one class the command line catches
(one line `zoo: error: ...`, exit 2); anything else is a bug and keeps its traceback."""
import importlib
import inspect
import os
import pkgutil
import subprocess
import sys

import pytest

import zoo
import zoo.cli
from zoo.errors import ZooError

# Exceptions of the zoo that are not a user's mistake, each with why: a stop by a signal ends
# `zoo report` with 128 + its number, not with an error line.
NOT_USER_ERRORS = {"zoo.report.runner.Interrupted"}


def _exception_classes() -> dict[str, type]:
    """Every exception class defined in the zoo package, found by importing each module."""
    found = {}
    for info in pkgutil.walk_packages(zoo.__path__, "zoo."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def test_every_user_error_of_the_zoo_derives_from_zoo_error():
    classes = _exception_classes()
    assert "zoo.config.RecipeError" in classes and "zoo.data.errors.ZooDataError" in classes  # the walk works
    others = {name for name, cls in classes.items() if not issubclass(cls, ZooError)}
    assert others == NOT_USER_ERRORS
    # The older bases stay, for callers that catch them.
    from zoo.config import RecipeError
    from zoo.data.errors import ZooDataError
    from zoo.export import ExportError
    from zoo.runs import RunError
    from zoo.training.trainer import TrainingDiverged

    assert all(issubclass(c, ValueError) for c in (RecipeError, ZooDataError, ExportError, RunError))
    assert issubclass(TrainingDiverged, RuntimeError)


def test_the_cli_catches_the_base_not_a_list(monkeypatch, capsys):
    class NewError(ZooError):   # a user error the CLI has never heard of
        pass

    def fails(args):
        raise NewError("the first line\n  and the second")

    monkeypatch.setattr(zoo.cli, "cmd_list", fails)
    assert zoo.cli.main(["list"]) == 2
    assert capsys.readouterr().err == "zoo: error: the first line and the second\n"

    def bug(args):
        raise TypeError("a bug, not a user error")

    monkeypatch.setattr(zoo.cli, "cmd_list", bug)
    with pytest.raises(TypeError, match="a bug"):   # not hidden behind an error line
        zoo.cli.main(["list"])


def test_a_user_error_is_one_line_and_exit_2_from_the_zoo_command(tmp_path):
    """The real `zoo` entry point (zoo_env.main), in its own process: one line, no traceback."""
    missing = tmp_path / "no_such_run"
    proc = subprocess.run([sys.executable, "-c", "import sys, zoo_env; sys.exit(zoo_env.main())", "export",
                           str(missing)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    zoo_lines = [line for line in proc.stderr.splitlines() if line.startswith("zoo:")]
    assert zoo_lines == [f"zoo: error: run directory does not exist: {str(missing)!r}"]

"""The layers of the house, read from the code's own imports: errors, data, registry, config, io
and run folders at the bottom; then the export core; the evaluation loop; the trainer (it
evaluates) and `zoo.sources` (`zoo eval`: it reads exports and evaluates them); the families (and
the tuner and the report) above those; the command line on top. No import runs upward, there is
no import circle, no family imports another, and the shared core names no family, model or task.
Also: `import zoo` leaves its host's environment alone; `zoo_env` is the opt-in."""
import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import zoo

ROOT = Path(zoo.__file__).resolve().parent
LAYERS = [  # (module prefix, floor); the longest matching prefix decides
    ("zoo.errors", 0),
    ("zoo.io", 0), ("zoo.version", 0), ("zoo.layers", 0), ("zoo.data", 0), ("zoo.registry", 0), ("zoo.config", 0),
    ("zoo.runs", 0), ("zoo.provenance", 0),
    ("zoo.export", 1), ("zoo.eval", 2), ("zoo.training", 3), ("zoo.sources", 3),
    ("zoo.models", 4), ("zoo.tuning", 4), ("zoo.report", 4),
    ("zoo.cli", 5), ("zoo", 5),   # the package face imports every family
]


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _floor(module: str) -> int:
    return max((p for p in LAYERS if module == p[0] or module.startswith(p[0] + ".")),
               key=lambda p: len(p[0]))[1]


def _imports() -> dict[str, set[str]]:
    """Module -> the zoo modules it imports (at module level or inside functions)."""
    graph = {}
    for path in ROOT.rglob("*.py"):
        mod = _module(path)
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                for a in node.names:   # `from zoo.models.x import cli` imports the module zoo.models.x.cli
                    full = f"{base}.{a.name}"
                    targets.add(full if (ROOT.parent / Path(*full.split("."))).with_suffix(".py").exists()
                                or (ROOT.parent / Path(*full.split("."))).is_dir() else base)
        graph[mod] = {t for t in targets if t == "zoo" or t.startswith("zoo.")} - {mod}
    return graph


def test_no_import_runs_upward_and_no_family_imports_another():
    graph = _imports()
    assert "zoo.training.trainer" in graph and "zoo.models.byte_rcae.task" in graph
    upward, across = [], []
    for mod, targets in graph.items():
        for t in targets:
            if _floor(t) > _floor(mod):
                upward.append(f"{mod} -> {t}")
            fam = mod.split(".")[2] if mod.startswith("zoo.models.") else None
            other = t.split(".")[2] if t.startswith("zoo.models.") and t.count(".") >= 2 else None
            if fam and other and fam != other:
                across.append(f"{mod} -> {t}")
    assert not upward, upward
    assert not across, across


def test_no_import_circle():
    graph = _imports()
    state, stack, circles = {}, [], []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if t == "zoo" or t not in graph:   # the package face is imported first by Python itself
                continue
            if state.get(t) == "open":
                circles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not circles, circles


def test_the_shared_core_names_no_family_model_or_task():
    """The trainer, the evaluation loop, the export core, the tuner, the command line, the
    registry, config and run folders: not one family key, model or task name, even in a comment.
    (The data layer names its data sets, e.g. the Temporal Order generator; the shared layers
    may say "recurrent" about a recurrent cell.)"""
    names = {f.name for f in zoo.families()} | {n for f in zoo.families() for n in f.legacy_names}
    names |= set(zoo.list_models()) | set(zoo.list_tasks())
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + r")\b")
    core = [p for p in ROOT.rglob("*.py") if not {"models", "data", "layers"} & set(p.relative_to(ROOT).parts)]
    assert any(p.name == "trainer.py" for p in core) and any(p.name == "cli.py" for p in core)
    found = {str(p.relative_to(ROOT)): sorted(set(pattern.findall(p.read_text()))) for p in core}
    assert not {k: v for k, v in found.items() if v}


def test_a_family_is_one_folder_that_declares_itself():
    folders = sorted(p.name for p in (ROOT / "models").iterdir() if (p / "__init__.py").is_file())
    assert folders == sorted(f.name for f in zoo.families())
    for fam in zoo.families():
        assert all(e.__module__.startswith(f"zoo.models.{fam.name}") for e in (fam.exporter, fam.client))
        assert fam.commands is None or fam.commands.__module__.startswith(f"zoo.models.{fam.name}")


def _clean_env():
    return {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL")}


def test_import_zoo_leaves_the_host_environment_alone():
    code = ("import json, os, zoo; "
            "print(json.dumps([os.environ.get(k) for k in ('TF_ENABLE_ONEDNN_OPTS', 'TF_CPP_MIN_LOG_LEVEL')]))")
    out = subprocess.run([sys.executable, "-c", code], env=_clean_env(), capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == [None, None]


def test_zoo_env_applies_the_command_line_defaults_before_tensorflow():
    code = ("import json, os, sys, zoo_env; "
            "code = zoo_env.main(['tasks']); "
            "print(json.dumps([code, os.environ['TF_ENABLE_ONEDNN_OPTS'], os.environ['TF_CPP_MIN_LOG_LEVEL']]))")
    # -W error: zoo_env.apply warns if TensorFlow was imported first; here it must not be.
    out = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code], env=_clean_env(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [0, "1", "3"]
    # A value the user set is kept.
    out = subprocess.run([sys.executable, "-c", "import zoo_env; print(zoo_env.apply()['TF_ENABLE_ONEDNN_OPTS'])"],
                         env={**_clean_env(), "TF_ENABLE_ONEDNN_OPTS": "0"}, capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "0"
    import warnings

    import zoo_env
    with warnings.catch_warnings(record=True) as caught:   # TensorFlow is loaded in this process
        warnings.simplefilter("always")
        zoo_env.apply({"ZOO_TEST_UNUSED": "1"})
    assert [w.category for w in caught] == [RuntimeWarning]
    os.environ.pop("ZOO_TEST_UNUSED", None)

"""Model families: every folder here is one family, found and imported by `import zoo`.

A family folder declares itself in its `__init__.py` with `zoo.registry.register_family`; its
modules register its models and tasks. Adding a family is adding a folder (and its recipes).
"""
import importlib
import pkgutil

from zoo.registry import families as _families


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.ispkg and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    declared = {f.name for f in _families()}
    for info in pkgutil.iter_modules(__path__):
        if info.ispkg and not info.name.startswith("_") and info.name not in declared:
            raise ImportError(f"family folder zoo/models/{info.name}/ does not declare itself: "
                              f"call zoo.registry.register_family(__name__, ...) in its __init__.py")


_discover()

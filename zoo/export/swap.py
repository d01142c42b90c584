"""Putting a finished export in place atomically, and cleaning up after a killed one.

The export is written into a hidden sibling `.NAME.tmp-XXXX`, then swapped with `NAME`:
on Linux by one `renameat2(RENAME_EXCHANGE)` (a reader sees the old export or the new one,
never neither), elsewhere (or on a filesystem without it) by two renames through
`.NAME.old-XXXX`. A process killed between those steps leaves hidden siblings behind; the next
export to `NAME` (`recover_leftovers`) puts an intact earlier export back if `NAME` is missing
and removes the rest. Only folders of exactly that naming pattern next to `NAME` are touched,
so one export per destination at a time.

Nothing here imports TensorFlow (the fault-injection tests load this file in a bare process).
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import secrets
import shutil
import signal
import sys
from pathlib import Path

AT_FDCWD = -100
RENAME_EXCHANGE = 2
FAULT_ENV = "ZOO_EXPORT_FAULT"


def _faults() -> set[str]:
    return set(filter(None, os.environ.get(FAULT_ENV, "").split(",")))


def _fault_point(name: str) -> None:
    """Test hook: SIGKILL this process at point `name` when it is listed in $ZOO_EXPORT_FAULT
    (comma-separated; "no_renameat2" forces the two-rename fallback). Points: "before_swap",
    "between_renames" (fallback only), "after_swap" (before the old copy is removed)."""
    if name in _faults():
        os.kill(os.getpid(), signal.SIGKILL)


def _renameat2():
    if not sys.platform.startswith("linux") or "no_renameat2" in _faults():
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # libc older than glibc 2.28, or not glibc
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two existing paths; False where the OS or filesystem cannot."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_into_place(tmp: Path, out: Path) -> None:
    """Make the finished folder `tmp` the folder `out`, removing an earlier `out`."""
    _fault_point("before_swap")
    if not out.exists():
        os.rename(tmp, out)
        return
    if exchange(tmp, out):
        _fault_point("after_swap")
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the earlier export
        return
    old = out.with_name(f".{out.name}.old-{secrets.token_hex(4)}")
    os.rename(out, old)
    _fault_point("between_renames")
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(old, out)
        raise
    _fault_point("after_swap")
    shutil.rmtree(old, ignore_errors=True)


def leftovers(out: Path, kind: str = "old|tmp") -> list[Path]:
    """Hidden siblings `.NAME.old-*` / `.NAME.tmp-*` that a killed export of `out` left."""
    pattern = re.compile(rf"\.{re.escape(out.name)}\.(?:{kind})-[A-Za-z0-9_]+")
    if not out.parent.is_dir():
        return []
    return sorted(p for p in out.parent.iterdir() if pattern.fullmatch(p.name) and p.is_dir())


def is_intact(folder: Path, manifest_name: str = "manifest.json") -> bool:
    """A complete export: a readable zoo manifest whose SavedModels and Keras file exist."""
    try:
        m = json.loads((folder / manifest_name).read_text())
        return (m.get("format") == "zoo-export" and (folder / m.get("keras_model", "model.keras")).is_file()
                and all((folder / e["path"] / "saved_model.pb").is_file() for e in m["savedmodels"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def recover_leftovers(out: Path) -> Path | None:
    """Before exporting to `out`: if `out` is missing, restore the newest intact `.old-*` copy
    (a fallback swap killed between its renames); then remove every other leftover. Returns the
    restored folder, if any."""
    restored = None
    if not out.exists():
        intact = [p for p in leftovers(out, "old") if is_intact(p)]
        if intact:
            os.rename(max(intact, key=lambda p: p.stat().st_mtime), out)
            restored = out
    for p in leftovers(out):
        shutil.rmtree(p, ignore_errors=True)
    return restored

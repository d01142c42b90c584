"""The zoo's one way to write a file: into a temporary sibling, then `os.replace` onto the name.

A reader (or a process killed midway) sees the old file or the new one, never half of one.
Every writer of run folders, exports, plots, caches and evaluations goes through `atomic_write`.
Nothing here imports TensorFlow.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, IO


@contextlib.contextmanager
def _replacing(path, suffix: str = ".tmp"):
    """Yield a temporary sibling path of `path`; on success it replaces `path`, on failure it
    is removed and `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it a normal file's mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _write_with(path, write: Callable[[IO[bytes]], None], suffix: str = "") -> Path:
    with _replacing(path, suffix + ".tmp") as tmp, open(tmp, "wb") as f:
        write(f)
    return Path(path)


def atomic_write(path, data: bytes | str) -> Path:
    """Write bytes (or UTF-8 text) to `path` atomically; returns the path."""
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return _write_with(path, lambda f: f.write(payload))


def atomic_write_json(path, obj: Any) -> Path:
    """`obj` as indented, key-sorted JSON (non-JSON values via `str`), written atomically."""
    return atomic_write(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_save_figure(fig, path, dpi: int = 100) -> Path:
    """A matplotlib `Figure` as PNG, drawn on the Agg canvas (no pyplot, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    return _write_with(path, lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight"),
                       suffix=".png")


def atomic_save_keras(model, path) -> Path:
    """`model.save` into a sibling `.keras` file (Keras wants the suffix), then rename."""
    with _replacing(path, ".tmp.keras") as tmp:
        model.save(tmp)
    return Path(path)


def utf8_path(path, what: str, error: Callable[[str], Exception]) -> Path:
    """`path` as a Path, or `error` if its name is not valid UTF-8. A name with undecodable bytes
    reaches Python as lone surrogates, which TensorFlow's file functions (checkpoints, SavedModels,
    event files) cannot encode: refused before anything is written, not as a traceback mid-run."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(text).decode("utf-8", "backslashreplace")
        raise error(f"{what} '{shown}' is not valid UTF-8; TensorFlow writes only to UTF-8 paths: "
                    f"choose another name") from None
    return Path(text)


def one_line(e: BaseException, limit: int = 300) -> str:
    """An exception's message on one line (TensorFlow's span several), for a user error."""
    text = getattr(e, "message", None) or str(e) or type(e).__name__
    return " ".join(str(text).split())[:limit]


def load_keras_file(path, error: Callable[[str], Exception], remedy: str):
    """`keras.models.load_model(path)`, a damaged file raised as `error(message)` naming it and
    its cause: Keras reports a truncated `.keras` zip as "File not found", which misleads."""
    import zipfile

    import keras

    path = Path(path)
    try:
        return keras.models.load_model(path)
    except Exception as e:  # noqa: BLE001  (Keras raises several types for damaged files)
        try:
            bad = zipfile.ZipFile(path).testzip() if zipfile.is_zipfile(path) else "the zip directory"
        except Exception as e2:  # noqa: BLE001  (a zip that opens but cannot be read through)
            bad, e = "a member", e2
        if bad is not None:
            raise error(f"{str(path)!r} is corrupted or truncated ({bad} does not read back: "
                        f"{one_line(e)}); {remedy}") from None
        raise error(f"{str(path)!r} cannot be loaded ({one_line(e)})") from None


def write_records(path, records) -> Path:
    """A list of byte strings as a compressed .npz (lengths + concatenated bytes), atomically:
    compact for any script and exact for bytes that are not valid UTF-8."""
    import io as _io

    import numpy as np

    records = [bytes(r) for r in records]
    buffer = _io.BytesIO()
    np.savez_compressed(buffer, lengths=np.array([len(r) for r in records], np.int64),
                        data=np.frombuffer(b"".join(records), np.uint8))
    return atomic_write(path, buffer.getvalue())


def read_records(path) -> list[bytes]:
    import numpy as np

    with np.load(path) as f:
        lengths, data = f["lengths"], f["data"].tobytes()
    ends = np.cumsum(lengths)
    return [data[e - n:e] for n, e in zip(lengths.tolist(), ends.tolist())]

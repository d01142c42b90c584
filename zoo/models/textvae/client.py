"""The export reader of the text VAEs (Semeniuta's dissertation §5.3; "A Hybrid Convolutional
Variational Autoencoder for Text Generation", 2017): text in, codes or text out, through the
exported SavedModels only (no zoo model code runs).

A text (str or bytes) becomes its bytes padded with END (0) to the export's window length, as the
training windows were. A text longer than the window is an error, except in `reconstruct` under a
recipe with `task.overflow: split`, which cuts it into window-sized pieces and joins their
reconstructions (a code is one window's: `encode`, `posterior` and `interpolate` always refuse).
"""
from __future__ import annotations

import numpy as np

from zoo.data.errors import ZooDataError
from zoo.export import ExportClient, ExportError, Reconstructor, TextEncoder
from zoo.export.client import TEXT_OR_BYTES, texts_in
from zoo.models.textvae.data import decode_ids, encode_text

_WHAT = {"bytes": "byte ids", "z": "codes", "count": "a count", "seed": "a seed", "temperature": "a temperature"}


class TextVAEClient(ExportClient, Reconstructor, TextEncoder):
    """Serve a text-VAE export: `encode` (posterior means), `posterior`, `decode`, `sample`,
    `reconstruct`, `interpolate`. Texts: one (str or bytes) or a list."""

    family = "textvae"
    what = "text VAE"

    def __init__(self, export_dir):
        super().__init__(export_dir)
        self._path = min(self.entries, key=lambda n: self.entries[n]["length"])

    @property
    def length(self) -> int:
        """The window in bytes: the longest text the export takes."""
        return int(self.entries[self._path]["length"])

    @property
    def latent_dim(self) -> int:
        return int(self.entries[self._path]["latent_dim"])

    # -- text <-> ids ----------------------------------------------------------------------------
    def ids(self, texts: list) -> np.ndarray:
        rows = []
        for i, t in enumerate(texts):
            try:
                rows.append(encode_text(t, self.length))
            except ZooDataError as e:
                where = "text" if len(texts) == 1 else f"text {i}"
                raise ExportError(f"{where}: {e}") from None
        return np.stack(rows) if rows else np.zeros((0, self.length), np.int32)

    @staticmethod
    def _texts(rows, like=None) -> list:
        out = [decode_ids(r) for r in rows]
        if like is None:
            return [b.decode("utf-8", errors="replace") for b in out]
        return [b.decode("utf-8", errors="replace") if isinstance(t, str) else b for t, b in zip(like, out)]

    # -- the contracts ---------------------------------------------------------------------------
    @texts_in(TEXT_OR_BYTES)
    def encode(self, texts) -> np.ndarray:
        """The posterior mean of each text: float32 [latent_dim], [batch, latent_dim] for a list."""
        if not texts:
            return np.zeros((0, self.latent_dim), np.float32)
        return self.call(self._path, "encode", self.ids(texts))["mu"]

    @texts_in(TEXT_OR_BYTES)
    def posterior(self, texts) -> dict[str, np.ndarray]:
        """{"mu", "logvar"} of q(z|x) for each text (arrays [latent_dim], batched for a list)."""
        return self.call(self._path, "encode", self.ids(texts))

    @property
    def overflow(self) -> str:
        """"reject" or "split": what `reconstruct` does with a text longer than the window."""
        return str(self.manifest.get("recipe", {}).get("task", {}).get("overflow", "reject"))

    @texts_in(TEXT_OR_BYTES)
    def reconstruct(self, texts):
        """Each text greedily decoded from its posterior mean, of the input's type (str or bytes);
        with `overflow` "split", a longer text piece by piece (window-sized byte pieces)."""
        if not texts:
            return []
        if self.overflow == "split":
            pieces, owner = [], []
            for i, t in enumerate(texts):
                data = t.encode("utf-8") if isinstance(t, str) else bytes(t)
                for start in range(0, max(1, len(data)), self.length):
                    pieces.append(data[start:start + self.length])
                    owner.append(i)
            rows = self.call(self._path, "reconstruct", self.ids(pieces))["bytes"]
            joined = [b"".join(decode_ids(r) for r, o in zip(rows, owner) if o == i) for i in range(len(texts))]
            return [b.decode("utf-8", errors="replace") if isinstance(t, str) else b for t, b in zip(texts, joined)]
        return self._texts(self.call(self._path, "reconstruct", self.ids(texts))["bytes"], texts)

    # -- generation ------------------------------------------------------------------------------
    def decode(self, z):
        """Greedy text from a code [latent_dim] (a str) or codes [batch, latent_dim] (a list)."""
        z = np.asarray(z, dtype=np.float32)
        if z.ndim not in (1, 2) or z.shape[-1] != self.latent_dim:
            raise ExportError(f"z must have {self.latent_dim} values per code (shape [{self.latent_dim}] "
                              f"or [batch, {self.latent_dim}]), got shape {list(z.shape)}")
        single = z.ndim == 1
        if not single and len(z) == 0:
            return []
        texts = self._texts(self.call(self._path, "decode", z[None] if single else z)["bytes"])
        return texts[0] if single else texts

    def sample(self, count: int = 10, seed: int = 0, temperature: float = 0.0) -> list[str]:
        """`count` texts decoded from codes drawn from the prior N(0, I) with `seed`: greedily
        (temperature 0) or sampled byte by byte at `temperature`."""
        if not isinstance(temperature, (int, float, np.floating)) or not 0 <= temperature <= 100:
            raise ExportError(f"temperature must be a number in [0, 100] (0: greedy), got {temperature!r}")
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ExportError(f"count must be a non-negative integer, got {count!r}")
        if count > self.entries[self._path]["max_count"]:
            raise ExportError(f"count must be at most {self.entries[self._path]['max_count']}, got {count}")
        if count == 0:
            return []
        out = self.call(self._path, "sample", {"count": np.int32(count), "seed": np.int32(seed),
                                                  "temperature": np.float32(temperature)})
        return self._texts(out["bytes"])

    def interpolate(self, first, second, steps: int = 8) -> list[str]:
        """Texts decoded from `steps` codes evenly spaced on the line between the two texts'
        posterior means, both ends included (§5.5: linear interpolation in the latent space)."""
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
            raise ExportError(f"steps must be an integer >= 2 (both ends included), got {steps!r}")
        a, b = self.encode([first, second])
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
        return self.decode((1 - t) * a[None] + t * b[None])

    # -- hooks -----------------------------------------------------------------------------------
    def example_input(self, path, name, key, spec, rng):
        if key == "bytes":
            return np.stack([encode_text(bytes(rng.integers(32, 127, size=n).astype(np.uint8)), self.length)
                             for n in (self.length // 2, self.length)])
        if key == "count":
            return np.int32(2)
        if key == "seed":
            return np.int32(int(rng.integers(0, 1000)))
        if key == "temperature":
            return np.float32(1.0)
        return super().example_input(path, name, key, spec, rng)

    def describe_input(self, key):
        return _WHAT.get(key, "values")

    def shape_error(self, path, name, key, axis, got, need):
        if key == "bytes" and axis == 1:
            return ExportError(f"this export reads windows of {need} bytes, got {got}")
        if key == "z" and axis == 1:
            return ExportError(f"z must have {need} values per code, got {got}")
        return None

    def check_input(self, path, name, key, a):
        if key == "bytes" and a.size and (a.min() < 0 or a.max() > 255):
            raise ExportError(f"{path} signature {name!r}: byte ids must be in [0, 255], "
                              f"got values in [{a.min()}, {a.max()}]")
        if key == "z" and not np.all(np.isfinite(a)):
            raise ExportError(f"{path} signature {name!r}: z must be finite")
        return a

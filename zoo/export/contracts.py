"""What an export serves, declared by its client: the capabilities the generic verbs ask for.

A family's client (`zoo.export.ExportClient` subclass) inherits one capability per thing it
serves, e.g. `class XClient(ExportClient, TextGenerator, TextScorer)`. A capability is an
abstract base class: its method is the contract (names, arguments, what comes back), a client
that declares it but lacks the method cannot be instantiated, and a client whose method does not
take the contract's arguments is refused when its class is defined (a TypeError at import, not
when a user first calls it). `zoo generate` asks for a `TextGenerator`, `zoo score` for a
`TextScorer`; any other export is refused in one line that says what it can do
(`require`).

Texts, one or many: every method that takes text takes one text (str, or bytes where the
family reads bytes) or a list of texts, and answers one result for one text and a batch for a
list (`zoo.export.client.texts_in`, used by every client; a wrong type is an ExportError in one
line).
"""
from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from zoo.export.exporter import ExportError


class Capability(ABC):
    """One thing an export serves, through the client method named `verb`.

    `can` says it to a user in a few words, starting with the verb ("score texts (...)"): the
    refusal lists an export's `can`s and the one it lacks."""

    verb: str = ""
    can: str = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for cap in cls.__mro__:
            if cap is Capability or not (isinstance(cap, type) and issubclass(cap, Capability)) or not cap.verb:
                continue
            if cap.__dict__.get("verb") and cls is not cap:
                _check_method(cls, cap)


def _check_method(cls, cap) -> None:
    """`cls.<verb>` takes every argument of the contract `cap.<verb>` and requires no other."""
    impl = getattr(cls, cap.verb, None)
    if impl is None or getattr(impl, "__isabstractmethod__", False):
        return  # still abstract: instantiation refuses it
    want = inspect.signature(getattr(cap, cap.verb)).parameters
    got = inspect.signature(impl).parameters
    var_kw = any(p.kind is p.VAR_KEYWORD for p in got.values())
    for name, p in want.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        q = got.get(name)
        if q is None and not (var_kw and p.kind is p.KEYWORD_ONLY):
            raise TypeError(f"{cls.__name__}.{cap.verb} does not take {name!r}, which {cap.__name__} "
                            f"passes: it cannot serve {cap.__name__}")
        if q is not None and p.default is not p.empty and q.default is q.empty:
            raise TypeError(f"{cls.__name__}.{cap.verb} requires {name!r}, which {cap.__name__} "
                            f"callers may leave out")
    extra = [n for n, q in got.items() if n not in want and q.default is q.empty
             and q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD)]
    if extra:
        raise TypeError(f"{cls.__name__}.{cap.verb} requires {extra}, which {cap.__name__} callers "
                        f"do not pass: it cannot serve {cap.__name__}")


class TextGenerator(Capability):
    """Continues a prompt (`zoo generate`)."""

    verb = "generate"
    can = "generate (continue a prompt)"

    @abstractmethod
    def generate(self, prompt, max_tokens: int = 200, *, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, beam: int | None = None, length_penalty: float = 0.0, seed: int = 0,
                 depth: int | None = None) -> dict | list[dict]:
        """For one prompt a dict with at least "text" (the continuation) and "tokens"; also
        "unknown" (prompt units read as unknown) and "prompt_cut" (prompt tokens not read) where
        the model has them. A list of prompts: a list of those dicts. Sampling by default,
        beam search when `beam` is given; `depth` picks a per-depth SavedModel."""


class TextScorer(Capability):
    """The log-probability of texts (`zoo score`)."""

    verb = "score"
    can = "score texts (log-probability, bits per character)"

    @abstractmethod
    def score(self, texts, *, depth: int | None = None) -> dict[str, Any]:
        """"log_prob" (natural log, of the text and its end) and "characters" (the text's
        characters plus one for its end), and whatever else the family measures: for one text
        scalars, for a list arrays with one row per text."""


class PairScorer(Capability):
    """The log-probability of a target given a source text."""

    verb = "score"
    can = "score pairs (log p(target | source))"

    @abstractmethod
    def score(self, texts, targets):
        """log p(target + end | text): a float for one text and one target, an array for two lists
        of the same length."""


class Translator(Capability):
    """Maps texts into another language."""

    verb = "translate"
    can = "translate texts"

    @abstractmethod
    def translate(self, texts, language: str | None = None):
        """The text's rendering in `language` (default: the model's first): a str for a str, a
        list for a list."""


class Reconstructor(Capability):
    """Auto-encodes texts: the model's reconstruction of its input."""

    verb = "reconstruct"
    can = "reconstruct texts (auto-encode)"

    @abstractmethod
    def reconstruct(self, texts):
        """The reconstruction, of the input's type (str or bytes); a list for a list."""


class TextEncoder(Capability):
    """Maps texts to fixed-size codes."""

    verb = "encode"
    can = "encode texts into codes"

    @abstractmethod
    def encode(self, texts) -> np.ndarray:
        """float32 [code_dim] for one text, [batch, code_dim] for a list."""


class Classifier(Capability):
    """Class probabilities of inputs (images)."""

    verb = "classify"
    can = "classify images"

    @abstractmethod
    def classify(self, images, glimpses: int | None = None) -> np.ndarray:
        """[num_classes] for one input, [batch, num_classes] for a batch."""


class Attender(Capability):
    """Where the model looked: its glimpses' positions on each input."""

    verb = "attend"
    can = "attend (show where it looks: glimpse boxes)"

    @abstractmethod
    def attend(self, images, glimpses: int | None = None) -> dict[str, np.ndarray]:
        """Per glimpse its parameters and box: arrays [k] (and [k, 4]) for one input, with a
        leading batch axis for a batch."""


class Predictor(Capability):
    """Arrays in, arrays out: the model's outputs on a batch of its input arrays."""

    verb = "predict"
    can = "predict outputs from input arrays"

    @abstractmethod
    def predict(self, inputs, depth: int | None = None) -> np.ndarray:
        """The model's outputs on a batch."""


def capabilities(client) -> list[type[Capability]]:
    """The capabilities a client (instance or class) declares, most specific first in MRO order."""
    cls = client if isinstance(client, type) else type(client)
    return [c for c in cls.__mro__ if isinstance(c, type) and issubclass(c, Capability)
            and c is not Capability and c.__dict__.get("verb")]


def describe(client) -> str:
    """What an export can do, for a user: "translate texts, score pairs (...)"."""
    return ", ".join(c.can for c in capabilities(client)) or "nothing a verb serves"


def require(client, capability: type[Capability], verb: str):
    """`client` if it declares `capability`, else an ExportError naming what it can do."""
    if isinstance(client, capability):
        return client
    m = client.manifest
    raise ExportError(f"{str(client.export_dir)!r} is a {m['family']} export ({m.get('model')}); it can: "
                      f"{describe(client)}; {verb} needs an export that can {capability.can}")

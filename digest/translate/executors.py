"""Where model batches run: in this process, or on a Dask cluster (chosen by the config)."""

from __future__ import annotations

from digest.errors import StageError
from digest.records import TranslationConfig
from digest.translate.batches import DASK_HINT, Executor, LocalExecutor, uses_dask
from digest.translate.embed import Embedder
from digest.translate.engine import Translator

__all__ = ["make_executor"]


def make_executor(
    cfg: TranslationConfig,
    translator: Translator | None,
    *,
    embedder: Embedder | None = None,
    embedder_spec: str | None = None,
    cluster: str | None = None,
) -> Executor:
    """The executor the config (or an explicit scheduler address) asks for.

    On Dask the workers build their own models: the translator from `cfg`, the embedder from
    `embedder_spec` (a `stories.embedder` value).
    """
    if not uses_dask(cfg, cluster):
        return LocalExecutor(translator, embedder)
    try:
        # Dask is an optional extra: imported only when asked for.
        from digest.translate.scaleout import DaskExecutor
    except ImportError as exc:
        raise StageError(
            f"translation on Dask needs the optional Dask packages, which are not installed "
            f"({exc.name or exc})",
            hint=DASK_HINT,
        ) from exc
    return DaskExecutor(cfg, address=cluster or cfg.cluster, embedder=embedder_spec)

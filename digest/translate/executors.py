"""Where translation batches run: in this process, or on a Dask cluster (chosen by the config)."""

from __future__ import annotations

from digest.errors import StageError
from digest.records import TranslationConfig
from digest.translate.batches import DASK_HINT, Executor, LocalExecutor, uses_dask
from digest.translate.engine import Translator

__all__ = ["make_executor"]


def make_executor(
    cfg: TranslationConfig, translator: Translator, *, cluster: str | None = None
) -> Executor:
    """The executor the config (or an explicit scheduler address) asks for."""
    if not uses_dask(cfg, cluster):
        return LocalExecutor(translator)
    try:
        # Dask is an optional extra: imported only when asked for.
        from digest.translate.scaleout import DaskExecutor
    except ImportError as exc:
        raise StageError(
            f"translation on Dask needs the optional Dask packages, which are not installed "
            f"({exc.name or exc})",
            hint=DASK_HINT,
        ) from exc
    return DaskExecutor(cfg, address=cluster or cfg.cluster)

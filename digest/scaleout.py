"""`dask worker --preload digest.scaleout`: the documented preload (it lives in translate)."""

from digest.translate.scaleout import dask_setup

__all__ = ["dask_setup"]

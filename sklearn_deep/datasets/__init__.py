"""Small shipped datasets and thin loaders for datasets shipped by other packages."""

from ._base import load_old_faithful

__all__ = ["load_old_faithful"]

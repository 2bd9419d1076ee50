"""Small shipped datasets and thin loaders for datasets shipped by other packages."""

from ._base import load_old_faithful
from ._bbc import load_bbc_news
from ._fashion_mnist import load_fashion_mnist
from ._ucr import (
    load_basic_motions,
    load_gunpoint,
    load_italy_power_demand,
    load_japanese_vowels,
    load_ucr_uea,
)

__all__ = [
    "load_basic_motions",
    "load_bbc_news",
    "load_fashion_mnist",
    "load_gunpoint",
    "load_italy_power_demand",
    "load_japanese_vowels",
    "load_old_faithful",
    "load_ucr_uea",
]

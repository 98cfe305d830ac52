"""Variant registry; importing this package registers the catalogue."""

from . import catalogue  # noqa: F401  (registers the 28 variants)
from .registry import (NotBuildableError, UnknownVariantError, Variant, get_variant, list_variants,
                       register_variant, require_buildable)

__all__ = ["Variant", "register_variant", "list_variants", "get_variant", "require_buildable",
           "UnknownVariantError", "NotBuildableError"]

"""Typed configuration: strict pydantic models loaded from YAML presets in ``mouselift/configs/``.

Every domain defines its own model (e.g. :class:`mouselift.data.prepare.PrepareConfig`) on top of
:class:`StrictModel`; an unknown or misspelt key anywhere is an error naming the key and the file.
"""

from .base import (
    StrictModel,
    find_preset,
    list_presets,
    load_config,
    merge_overrides,
    upgrade_renamed_keys,
)

__all__ = ["StrictModel", "find_preset", "list_presets", "load_config", "merge_overrides",
           "upgrade_renamed_keys"]

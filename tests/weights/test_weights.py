"""The built-in models the package ships (``mouselift.weights``): they load as a lift pair and
their files match their records. Until ``make weights`` has installed them this says so."""

from __future__ import annotations

import json

import pytest

from mouselift.weights import (
    MADE_BY_FILE,
    MAX_INSTALLED_MB,
    PACKAGE_DIR,
    STAGE1_DIR,
    STAGE2_DIR,
    verify,
)

SHIPPED = (PACKAGE_DIR / STAGE1_DIR / MADE_BY_FILE).is_file()
needs_weights = pytest.mark.skipif(not SHIPPED, reason="no built-in models in the package yet "
                                   "(`make weights` builds and installs them)")


@needs_weights
def test_the_shipped_models_match_their_records_and_load():
    from mouselift.flows.lift import LiftModels

    for stage in (STAGE1_DIR, STAGE2_DIR):
        assert verify(PACKAGE_DIR / stage) == [], stage
        made = json.loads((PACKAGE_DIR / stage / MADE_BY_FILE).read_text())["builtin"]
        assert made["command"].startswith("mouselift train builtin")
    size = sum(p.stat().st_size for p in PACKAGE_DIR.rglob("*") if p.is_file())
    assert size / 1e6 <= MAX_INSTALLED_MB
    models = LiftModels.load(PACKAGE_DIR / STAGE1_DIR, PACKAGE_DIR / STAGE2_DIR)
    assert models.rig.locator is not None


def test_the_package_ships_no_half_installed_models():
    """Either both stages with their records, or nothing."""
    present = [(PACKAGE_DIR / stage / MADE_BY_FILE).is_file() for stage in (STAGE1_DIR,
                                                                           STAGE2_DIR)]
    assert present in ([True, True], [False, False])

"""The ``crs`` and ``crs-ci`` Hypothesis profiles, and loading one by name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from pytest_crs._hypothesis_profiles import (
    CRS_CI_PROFILE,
    CRS_PROFILE,
    load_profile,
    register_profiles,
)


@pytest.fixture(autouse=True)
def _restore_profile() -> Iterator[None]:
    """Profiles are process-wide: put back whatever the suite had loaded."""
    before = settings.get_current_profile_name()
    yield
    settings.load_profile(before)


def test_the_profiles_suit_virtual_time() -> None:
    register_profiles()
    crs = settings.get_profile(CRS_PROFILE)
    assert crs.deadline is None
    assert crs.print_blob is True
    ci = settings.get_profile(CRS_CI_PROFILE)
    assert ci.deadline is None
    assert ci.derandomize is True
    assert ci.database is None
    assert ci.max_examples == 50
    assert HealthCheck.too_slow in ci.suppress_health_check


def test_load_profile_loads_by_name_and_ignores_none() -> None:
    before = settings.get_current_profile_name()
    load_profile(None)
    load_profile("")
    assert settings.get_current_profile_name() == before
    load_profile(CRS_CI_PROFILE)
    assert settings.get_current_profile_name() == CRS_CI_PROFILE
    assert settings.get_profile(settings.get_current_profile_name()).derandomize is True


def test_an_unknown_profile_is_a_usage_error_naming_the_known_ones() -> None:
    with pytest.raises(pytest.UsageError, match=r"'nightly'.*crs-ci"):
        load_profile("nightly")

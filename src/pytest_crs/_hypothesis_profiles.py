"""Hypothesis profiles for suites that test on crs's virtual time.

Two profiles, registered by :func:`register_profiles` (the plugin calls it at configure time, so
``--hypothesis-profile=crs`` works as well as ``--crs-hypothesis-profile=crs``):

``crs``
    No deadline: with time virtual, a slow example says nothing about the code's timing, only
    about the machine; a deadline would only add flakiness. ``print_blob=True``, so a failure
    prints the ``@reproduce_failure`` blob that replays it elsewhere.
``crs-ci``
    ``crs`` made reproducible for CI: ``derandomize=True`` (the same examples on every run, so
    a red build is red for a reason in the code, not in the draw), no example database (CI
    machines start empty; a database there only hides that), ``max_examples=50`` and the
    ``too_slow`` health check off (a loaded CI runner generating slowly is not a bug).

:func:`load_profile` is what the ``--crs-hypothesis-profile NAME`` option calls; it accepts any
registered profile, ours or the suite's own.
"""

from __future__ import annotations

from typing import Final

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.errors import InvalidArgument

__all__ = ["CRS_CI_PROFILE", "CRS_PROFILE", "load_profile", "register_profiles"]

CRS_PROFILE: Final = "crs"
CRS_CI_PROFILE: Final = "crs-ci"


def register_profiles() -> None:
    """Register the ``crs`` and ``crs-ci`` profiles (again is harmless: same values).

    Both derive from Hypothesis's ``default`` profile, not from whichever profile happens to be
    loaded, so they mean the same thing in every suite.
    """
    default = settings.get_profile("default")
    settings.register_profile(CRS_PROFILE, parent=default, deadline=None, print_blob=True)
    settings.register_profile(
        CRS_CI_PROFILE,
        parent=settings.get_profile(CRS_PROFILE),
        derandomize=True,
        database=None,
        max_examples=50,
        suppress_health_check=[HealthCheck.too_slow],
    )


def load_profile(name: str | None) -> None:
    """Load the Hypothesis profile ``name`` (``None`` or ``""``: leave the current one).

    Raises:
        pytest.UsageError: no profile of that name is registered; the message lists them.
    """
    if not name:
        return
    register_profiles()
    try:
        settings.load_profile(name)
    except InvalidArgument:
        known = ", ".join(sorted(settings._profiles))
        raise pytest.UsageError(
            f"--crs-hypothesis-profile={name!r}: no Hypothesis profile of that name "
            f"(registered: {known})"
        ) from None

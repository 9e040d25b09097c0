"""The machinery behind :mod:`pytest_crs.properties` (private; import from there)."""

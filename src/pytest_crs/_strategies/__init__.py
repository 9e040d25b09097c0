"""The strategies behind :mod:`pytest_crs.strategies` (private; import from there)."""

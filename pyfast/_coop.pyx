# cython: language_level=3
"""pyfast._coop: cooperative session handlers on C hubs (stub)."""

# cython: language_level=3
"""pyfast._message: message handlers on a C loop (stub)."""

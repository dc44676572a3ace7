# cython: language_level=3
"""pyfast._core: the only place Python meets csrc/ (stub)."""

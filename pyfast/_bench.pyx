# cython: language_level=3
"""pyfast._bench: C load generator and C reference servers (stub)."""

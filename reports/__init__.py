"""Data files shipped with advisor (no code)."""

"""Automatic graph modification (zero-code-change mode)."""

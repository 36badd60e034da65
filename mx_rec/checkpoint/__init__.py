"""Sparse checkpoints: tables saved beside TF checkpoints (see saveable.py)."""

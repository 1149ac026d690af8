"""Sweeps: ``plan`` (pure: the trials of a grid or a random search) and ``service``."""

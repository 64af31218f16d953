"""One module per chapter: its config and presets, the paper's numbers, ``run`` and its claims.

A chapter module imports building blocks only, never another chapter module (tests/test_architecture.py).
"""

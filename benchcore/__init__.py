"""Leaf utilities every package imports: the user-facing error type, atomic writes, audio reading.

Nothing here imports ``bench``, ``upstream``, ``downstream_tasks`` or ``results``, so those packages depend on
``benchcore`` and never on each other's internals through a cycle.
"""

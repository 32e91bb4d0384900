"""superb-bench: benchmark frozen speech encoders on the ten SUPERB tasks."""

__version__ = "0.1.0"

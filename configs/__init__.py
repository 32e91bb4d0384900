"""The task configs (`<task>.yaml`), shipped as package data so that a wheel install finds them (`bench/config.py`)."""

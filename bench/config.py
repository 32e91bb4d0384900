"""Task configs: `configs/<task>.yaml` holds profile `superb` (the recipe's values) and `mini` (overrides for
superb-mini).

`key=value` overrides address the resolved profile with dotted keys (`optimizer.lr=1e-3`, `total_steps=500`);
an unknown key is an error that lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from benchcore.errors import BenchError

try:
    import configs
except ModuleNotFoundError as error:  # an editable install made before `configs` became a package does not map it
    raise ModuleNotFoundError(
        "the harness's `configs` package is not installed: this install predates it; re-run "
        "`bash setup.sh --no-run` (or `pip install -e .`)"
    ) from error

# The `configs` package: the repository folder in a checkout or an editable install, package data in a wheel.
CONFIG_DIR = Path(configs.__file__).resolve().parent
PROFILES = ("superb", "mini")
#: Settings every task has, under its own YAML's values. ``data.allow_missing``: run on without the files the
#: dataset's metadata names but the disk lacks (bench/dataset_check.py); the record lists them.
#: ``max_nonfinite_updates``: consecutive updates with a NaN/Inf loss or gradient a head may skip (as s3prl skips them)
#: before the unit stops with an error instead of writing a record (bench.trainer)
#: ``featurizer.layer``: train on that hidden state alone instead of the learned weighted sum (a per-layer probe,
#: `bench layers`; its record is marked and never enters the SUPERB scores).
#: ``sweep.shared``: with the encoder in the loop, train the learning rates of a sweep side by side from one encoder
#: forward per step (bench.trainer.train_sweep; each head trains exactly as alone); ``sweep.max_heads``: at most that
#: many heads side by side (None: as many as fit the memory estimate, bench.sweep_memory).
COMMON_DEFAULTS = OmegaConf.create(
    {
        "data": {"allow_missing": False},
        "max_nonfinite_updates": 100,
        "featurizer": {"layer": None},
        "sweep": {"shared": True, "max_heads": None},
    }
)


def _leaf_keys(config: DictConfig, prefix: str = "") -> list[str]:
    keys = []
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        keys.extend(_leaf_keys(value, f"{dotted}.") if isinstance(value, DictConfig) else [dotted])
    return keys


def parse_value(text: str) -> Any:
    """YAML scalars and lists, with numbers like `3e-4` (plain YAML reads them as strings) as floats."""
    value = yaml.safe_load(text) if text else None

    def number(item: Any) -> Any:
        if isinstance(item, str):
            try:
                return float(item)
            except ValueError:
                return item
        return item

    return [number(item) for item in value] if isinstance(value, list) else number(value)


def config_path(task: str) -> Path:
    """The task's YAML: its metadata's ``config_file`` (a task defined outside the harness), else
    ``configs/<task>.yaml``."""
    from downstream_tasks import task_classes

    cls = task_classes().get(task)
    declared = cls.metadata.config_file if cls is not None else None
    return Path(declared) if declared is not None else CONFIG_DIR / f"{task}.yaml"


def load_task_config(task: str, profile: str = "superb", overrides: Sequence[str] = ()) -> DictConfig:
    path = config_path(task)
    if not path.is_file():
        raise BenchError(f"no config for task '{task}': expected {path}")
    if profile not in PROFILES:
        raise BenchError(f"unknown profile '{profile}'; choose one of {', '.join(PROFILES)}")
    raw = OmegaConf.load(path)
    config = OmegaConf.merge(COMMON_DEFAULTS, raw.superb)
    if profile != "superb":
        config = OmegaConf.merge(config, raw.get(profile, {}))
    OmegaConf.set_struct(config, True)
    valid = _leaf_keys(config)
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise BenchError(f"override '{override}' is not key=value")
        if key not in valid:
            raise BenchError(f"unknown config key '{key}' for task {task}; valid keys: {', '.join(valid)}")
        try:
            OmegaConf.update(config, key, parse_value(value), merge=True)
        except OmegaConfBaseException as error:
            raise BenchError(f"override '{override}': {error}".splitlines()[0]) from error
    return config

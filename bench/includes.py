"""`--include MODULE`: import a user's module (a dotted name on ``sys.path``, or a path to a ``.py`` file) before a
command runs, so that the tasks and upstreams it registers (``downstream_tasks.register_task``,
``upstream.registry.register_upstream_kind`` / ``register_upstream``) are known to the parser, the runner, the report
and, in `bench suite`, to every worker process (each job imports the suite's includes before it runs)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from benchcore.errors import BenchError


def import_include(spec: str) -> ModuleType:
    """Import one ``--include`` value; importing it again returns the module already loaded."""
    path = Path(spec)
    if spec.endswith(".py"):
        if not path.is_file():
            raise BenchError(f"--include {spec}: no such file")
        name = f"bench_include_{path.resolve().stem}_{abs(hash(str(path.resolve()))) % 10**8}"
        if name in sys.modules:
            return sys.modules[name]
        module_spec = importlib.util.spec_from_file_location(name, path.resolve())
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as error:
        if error.name and spec.startswith(error.name):  # the module itself, not something it imports
            raise BenchError(
                f"--include {spec}: no module named '{error.name}' on the Python path; give a dotted module name "
                "importable from the current directory or PYTHONPATH, or a path to a .py file"
            ) from None
        raise


def import_includes(specs: Sequence[str]) -> list[ModuleType]:
    return [import_include(spec) for spec in specs]


def includes_in(argv: Sequence[str]) -> list[str]:
    """The ``--include`` values of a command line (``--include X`` or ``--include=X``, repeatable), read before the
    parser is built so that `--help` and `--task` already know what they register."""
    found = []
    for position, word in enumerate(argv):
        if word == "--include" and position + 1 < len(argv):
            found.append(argv[position + 1])
        elif word.startswith("--include="):
            found.append(word.split("=", 1)[1])
    return found

"""`bench --help` and the commands that list no tasks start without importing torch (or scipy, through superb-mini's
generator); `bench run --help` still lists every registered task."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _modules_after(args: list[str]) -> set[str]:
    script = (
        "import sys\nfrom bench.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    finished = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr[-2000:]
    return set(finished.stdout.split())


@pytest.mark.parametrize("args", [["--help"], ["data", "mini", "--help"], ["cache", "--help"], ["--version"]])
def test_help_imports_no_torch(args):
    loaded = _modules_after(args)
    assert "torch" not in loaded and "scipy" not in loaded


def test_run_help_lists_the_tasks(capsys):
    from bench.cli import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "pr, asr, ks, qbe, sid, asv, sd, er, ic, sf" in " ".join(capsys.readouterr().out.split())

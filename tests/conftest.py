from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
if "BENCH_CACHE_DIR" not in os.environ:
    # Tests never fill the user's cache. ASV's per-file sox cache follows $BENCH_CACHE_DIR (TaskRun's cache_root does
    # not reach a task's reader), so runs given a cache_root of their own would otherwise write it under ~/.cache.
    os.environ["BENCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-cache-tests-")
    atexit.register(shutil.rmtree, os.environ["BENCH_CACHE_DIR"], True)
sys.path.insert(0, str(Path(__file__).resolve().parent))  # `fixtures` importable from every test folder

from upstream.testing import FAMILIES, build_tiny_hf  # noqa: E402

# Two torch threads (the CI machine's cores) unless OMP_NUM_THREADS says otherwise: the suite must pass at
# 1 and 2 threads.
TEST_THREADS = int(os.environ.get("OMP_NUM_THREADS") or 2)
torch.set_num_threads(TEST_THREADS)


@pytest.fixture(scope="session")
def tiny_hf_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_hf")
    return {family: build_tiny_hf(family, root / family) for family in FAMILIES}


@pytest.fixture(scope="session")
def tiny_meralion_dir(tmp_path_factory) -> Path:
    from upstream.testing_meralion import build_tiny_meralion

    return build_tiny_meralion(tmp_path_factory.mktemp("tiny_meralion") / "model")


@pytest.fixture(scope="session")
def mini_tiny() -> Path:
    """The tiny superb-mini corpus (all nine layouts, seconds to generate), shared by the whole session."""
    from fixtures.corpora import tiny_corpus

    return tiny_corpus()


@pytest.fixture(scope="session")
def mini_small() -> Path:
    from fixtures.corpora import small_corpus

    return small_corpus()


# ---- test tiers --------------------------------------------------------------------------------------------------
#: `pytest -m "not slow"` is the developer's inner loop; CI runs everything. Slow: whole `bench run`/`bench suite`
#: runs that train, subprocesses that import torch afresh, the benchmark scripts, and anything on the small corpus
#: (about a minute to generate).
SLOW_MODULES = frozenset(
    {
        "bench/superb_mini/test_mini_determinism.py",
        "bench/superb_mini/test_mini_learnability.py",
        "bench/superb_mini/test_fleurs_mini.py",
        "bench/test_cache_exactness.py",
        "bench/test_concurrent_runs.py",
        "bench/test_crops.py",
        "bench/test_e2e_asv.py",
        "bench/test_e2e_fleurs.py",
        "bench/test_e2e_fleurs_layout.py",
        "bench/test_e2e_qbe.py",
        "bench/test_e2e_pr_items.py",
        "bench/test_e2e_sd.py",
        "bench/test_e2e_sequence.py",
        "bench/test_file_permissions.py",
        "bench/test_end_to_end_small.py",
        "bench/test_frame_cache.py",
        "bench/test_missing_files.py",
        "bench/test_missing_files_structured.py",
        "bench/test_resume_and_determinism.py",
        "bench/test_suite.py",
        "bench/test_wheel_install.py",
        "upstream/test_meralion_stand_in.py",
        "reliability/test_faults.py",
        "results/test_report.py",
        "results/test_toy_task.py",
        "test_benchmarks.py",
        "upstream/test_adding_an_upstream_guide.py",
        "upstream/test_load_integrity.py",
        "upstream/test_offline_hub.py",
        "upstream/test_resemblyzer_upstream.py",
    }
)
SLOW_FIXTURES = frozenset({"mini_small"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_root = Path(__file__).resolve().parent
    for item in items:
        module = item.path.resolve().relative_to(tests_root).as_posix()
        if module in SLOW_MODULES or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)

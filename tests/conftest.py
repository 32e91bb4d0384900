from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # `fixtures` importable from every test folder

from fixtures.hf_models import FAMILIES, build_tiny_hf  # noqa: E402

# Two torch threads (the CI machine's cores) unless OMP_NUM_THREADS says otherwise: the suite must pass at 1 and 2 threads.
TEST_THREADS = int(os.environ.get("OMP_NUM_THREADS") or 2)
torch.set_num_threads(TEST_THREADS)


@pytest.fixture(scope="session")
def tiny_hf_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_hf")
    return {family: build_tiny_hf(family, root / family) for family in FAMILIES}


@pytest.fixture(scope="session")
def tiny_meralion_dir(tmp_path_factory) -> Path:
    from fixtures.meralion_fixture import build_tiny_meralion

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

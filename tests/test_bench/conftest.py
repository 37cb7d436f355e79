import importlib
import os.path as osp
import sys

import pytest

BENCH = osp.join(osp.dirname(__file__), '..', '..', 'bench')


@pytest.fixture
def import_bench():
    """``import_bench(name)`` imports ``bench/<name>.py`` for one test."""
    sys.path.insert(0, BENCH)
    try:
        yield importlib.import_module
    finally:
        sys.path.remove(BENCH)

"""Shared fixtures. Each helper-owned fixture module is registered in pytest_plugins below."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

# Fixture modules of their own (the S3 server fixture lives in tests/fixtures_s3.py once it exists).
pytest_plugins = [m for m in ("tests.fixtures_s3",) if os.path.exists(os.path.join(os.path.dirname(__file__), m.split(".")[1] + ".py"))]


@pytest.fixture(scope="session")
def ray_runtime():
    """One local Ray runtime for the whole session, shut down by its own handle at the end."""
    import ray

    ctx = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ctx
    ray.shutdown()


@pytest.fixture
def one_thread():
    """torch on one intra-op thread for this test, the caller's setting restored after it. Two threads on a
    shared 2-core machine make tiny ops many times slower, not faster; set per test so no module changes
    the process for the tests after it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

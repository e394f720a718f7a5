"""Shared fixtures: small real data (the embedded Fashion-MNIST subset) and tiny models."""
import os

import pytest

os.environ.setdefault("RETHINKKIT_QUIET", "1")  # no progress bars in test logs


@pytest.fixture(scope="session")
def mini():
    """fashion-mnist-mini on the CPU (3000 train / 1000 test, real images)."""
    import rethinkkit as rk

    return rk.data.load("fashion-mnist-mini", device="cpu")


@pytest.fixture(scope="session")
def tiny(mini):
    """A 256-image stratified training subset (and 200 test images) for fast training tests."""
    return mini.subset(n_train=256, n_test=200, seed=0)


@pytest.fixture
def store(tmp_path):
    import rethinkkit as rk

    return rk.runs.Store(tmp_path / "store")


@pytest.fixture(scope="module")
def one_thread():
    """Small-batch CPU forwards gain nothing from threads, and on a busy machine OpenMP's
    waiting threads can make them many times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

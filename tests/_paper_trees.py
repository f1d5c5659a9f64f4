"""Shared pieces of the paper-path tests (`tests/chapters/<id>/test_paper_path.py`, issue 18 item 3):
the `paper` profile's settings as a chapter's Config (with the few reductions a test states), the
device parametrisation (the CUDA + bf16 + channels_last branches run where a GPU is present), and
one torch thread for the runner's "0 = the runner's budget" thread setting.

Each chapter's module writes its own real-format tree (VOC, GeoTIFF, saliency folders, FORB,
DAVIS) at small size: the layouts have nothing in common worth sharing.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch

# Every paper-path test runs once per device; the CUDA case is skipped (not failed) without a GPU.
DEVICES = [pytest.param("cpu", id="cpu"),
           pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                    reason="no CUDA device on this machine"))]


def paper_config(spec, config_cls, device: str, **reduced):
    """`config_cls` with the `paper` profile's overrides from the chapter's SPEC, then `reduced` (the
    sizes / steps a test shrinks to fit the CPU budget) and `device`. A profile or a reduction naming a
    parameter the Config does not have fails here: a renamed parameter must not silently drop out of
    the paper path."""
    paper = spec.parameters("paper")
    assert paper, f"{spec.id}: no paper profile"
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted((set(paper) | set(reduced)) - fields)
    assert not unknown, f"{spec.id}: not parameters of {config_cls.__name__}: {unknown}"
    return config_cls(**{**paper, **reduced, "device": device})


@pytest.fixture
def one_thread(monkeypatch):
    """The paper profiles set threads = 0, i.e. the runner's budget ($BENCHLIB_THREADS, else every
    core): the budget is set to one thread (what each chapter gets in the book run, and what keeps
    two-core CI fair), and torch's thread count is restored afterwards for the tests that follow."""
    before = torch.get_num_threads()
    monkeypatch.setenv("BENCHLIB_THREADS", "1")
    yield
    torch.set_num_threads(before)


def assert_finite(a, what: str = "") -> None:
    """Every value of an array / tensor / number is finite."""
    import numpy as np

    arr = a.detach().float().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, float)
    assert arr.size == 0 or np.isfinite(arr).all(), f"{what}: non-finite values"

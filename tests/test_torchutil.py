import pytest
import torch

from benchlib import BenchlibError
from benchlib import torchutil


def test_set_threads_explicit_and_runner_budget(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert torchutil.set_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("BENCHLIB_THREADS", "2")
        assert torchutil.set_threads(0) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_load_checkpoint_names_the_file(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(BenchlibError, match="model.pt"):
        torchutil.load_checkpoint(bad)
    with pytest.raises(BenchlibError, match="not found"):
        torchutil.load_checkpoint(tmp_path / "missing.pt")
    good = tmp_path / "ok.pt"
    torch.save({"w": torch.ones(2)}, good)
    assert torch.equal(torchutil.load_checkpoint(good)["w"], torch.ones(2))


def test_load_checkpoint_refuses_non_finite_tensors(tmp_path):
    import pytest as _pytest
    import torch

    from benchlib import BenchlibError
    from benchlib.torchutil import load_checkpoint

    good, bad = tmp_path / "good.pt", tmp_path / "bad.pt"
    torch.save({"model": {"w": torch.ones(2), "n": torch.tensor(3)}}, good)
    assert load_checkpoint(good)["model"]["w"].sum() == 2
    torch.save({"model": {"w": torch.tensor([1.0, float("nan")])}}, bad)
    with _pytest.raises(BenchlibError, match=r"bad\.pt: 1 tensor.*model\.w"):
        load_checkpoint(bad)

"""ORANDNet's training stages resume from their checkpoints: an interrupted training continues at
the epoch it reached and ends with the weights of an uninterrupted one."""
import numpy as np
import pytest
import torch

from benchlib.chapters.orandnet_voc import pipeline as P, train as T


FIT = T.fit  # the real one (each test wraps it again)


class Stop(Exception):
    pass


def _cams(seed=0, n=6, size=16):
    rng = np.random.default_rng(seed)
    orc = [rng.random((2, size, size), dtype=np.float32) for _ in range(n)]
    return orc, [np.where(c > 0.5, c, 0).astype(np.float32) for c in orc]


def _train(monkeypatch, cfg, stop_after=None):
    """train_orandnet with an epoch counter (and an interruption after `stop_after` epochs)."""
    done = []

    def counting_fit(*a, **k):
        def on_epoch(ep):
            done.append(ep)
            if stop_after is not None and ep == stop_after:
                raise Stop
        return FIT(*a, **k, on_epoch=on_epoch)

    monkeypatch.setattr(T, "fit", counting_fit)
    orc, andc = _cams()
    return T.train_orandnet(orc, andc, cfg, seed=3), done


def test_an_interrupted_stage_resumes_where_it_stopped(tmp_path, monkeypatch):
    base = dict(orand_epochs=4, device="cpu", checkpoint_dir=str(tmp_path / "ck"))
    ref, ref_epochs = _train(monkeypatch, P.Config(**base, checkpoint_every=0))
    assert ref_epochs == [1, 2, 3, 4] and not (tmp_path / "ck").exists()  # off: nothing written

    cfg = P.Config(**base, checkpoint_every=1)
    with pytest.raises(Stop):
        _train(monkeypatch, cfg, stop_after=2)
    saved = list((tmp_path / "ck").glob("orandnet-seed3-*.pt"))
    assert len(saved) == 1
    resumed, epochs = _train(monkeypatch, cfg)
    assert epochs == [3, 4]  # only the epochs left were trained
    for k, v in ref.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k

    again, epochs = _train(monkeypatch, cfg)  # finished: nothing trained, same weights
    assert epochs == [] and all(torch.equal(v, again.state_dict()[k]) for k, v in ref.state_dict().items())


def test_other_training_data_is_not_resumed(tmp_path, monkeypatch):
    cfg = P.Config(orand_epochs=2, device="cpu", checkpoint_dir=str(tmp_path), checkpoint_every=1)
    _train(monkeypatch, cfg)
    orc, andc = _cams(seed=1)  # other CAMs: another key, another file, trained from the start
    ck = T.stage_checkpoint(cfg, "orandnet", 3, [torch.from_numpy(np.concatenate(orc)[:, None]),
                                                torch.from_numpy(np.concatenate(andc)[:, None])])
    assert ck.load() is None
    assert len(list(tmp_path.glob("orandnet-seed3-*.pt"))) == 1

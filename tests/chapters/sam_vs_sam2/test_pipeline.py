"""SAM vs SAM 2 chapter: parameter counting, checkpoint loading, measurement helpers, tables."""
import time

import numpy as np
import pytest
import torch

from benchlib import BenchlibError
from benchlib.chapters.sam_vs_sam2 import architecture as A
from benchlib.chapters.sam_vs_sam2 import measure as M
from benchlib.chapters.sam_vs_sam2 import models as S
from benchlib.chapters.sam_vs_sam2 import pipeline as E


@pytest.fixture(scope="module")
def hiera_t():
    torch.manual_seed(0)
    # one thread: on a shared CPU two OpenMP threads make these small calls much slower
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield S.build("hiera_t", image_size=128)
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------- counting
def test_prompt_encoder_count_by_hand():
    # 4 point embeddings + not-a-point + no-mask (256 each); mask downscaling:
    # conv 1->4 k2 (16+4), LN(4) 8, conv 4->16 k2 (256+16), LN(16) 32, conv 16->256 k1 (4096+256)
    by_hand = 4 * 256 + 256 + 256 + 20 + 8 + 272 + 32 + 4352
    m = S.build("vit_b", meta=True)
    assert S.components(m)["prompt encoder"] == by_hand == 6220


def test_vit_b_encoder_count_by_hand_and_reduced_resolution():
    d, mlp = 768, 3072
    block = 4 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * mlp + mlp + mlp * d + d)
    rel = lambda size: 2 * (2 * size - 1) * (d // 12)  # rel_pos_h + rel_pos_w, head dim 64
    neck = d * 256 + 512 + 256 * 256 * 9 + 512
    enc_1024 = (3 * 16 * 16 * d + d) + 64 * 64 * d + 8 * (block + rel(14)) + 4 * (block + rel(64)) + neck
    assert S.components(S.build("vit_b", meta=True))["image encoder"] == enc_1024 == 89_670_912
    # at 512 only the absolute position embedding and the global blocks' relative tables shrink
    enc_512 = enc_1024 - (64 * 64 - 32 * 32) * d - 4 * (rel(64) - rel(32))
    assert S.components(S.build("vit_b", meta=True, image_size=512))["image encoder"] == enc_512


@pytest.mark.parametrize("key", ["vit_b", "vit_l", "vit_h"])
def test_sam_totals_match_published_within_1_percent(key):
    t = E.totals(E.parameter_table([key]))
    assert abs(t["rel_diff_%"].iloc[0]) < 1
    assert t["params"].iloc[0] == {"vit_b": 93_735_472, "vit_l": 312_342_832, "vit_h": 641_090_608}[key]


def test_sam2_components_partition_the_model(hiera_t):
    comps = S.components(hiera_t)
    total = sum(p.numel() for p in hiera_t.parameters())
    assert sum(comps.values()) == total == 38_962_498
    # the structure-only build (initialisers skipped) has the same parts, and leaves the real init alone
    assert S.components(S.build("hiera_t", meta=True, image_size=128)) == comps
    assert torch.nn.init.trunc_normal_(torch.zeros(1000), std=1.0).abs().sum() > 0
    assert abs(total / 1e6 - 38.96) / 38.96 < 0.01
    assert comps["memory attention"] > 0 and comps["memory encoder"] > 0
    # same prompt encoder as SAM's
    assert comps["prompt encoder"] == 6220


# ----------------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip_official_layout(tmp_path, hiera_t):
    path = tmp_path / S.CHECKPOINT_FILES["hiera_t"]
    torch.save({"model": hiera_t.state_dict()}, path)
    assert S.checkpoint_path(tmp_path, "hiera_t") == path
    assert S.checkpoint_path(tmp_path, "hiera_s") is None
    loaded = S.build("hiera_t", checkpoint=path, image_size=128)
    for (k, a), (_, b) in zip(hiera_t.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k


def test_checkpoint_errors_name_the_file_and_problem(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(BenchlibError, match="corrupt.pt.*cannot load"):
        S.load_weights(model, bad)
    sd = model.state_dict()
    sd.pop("1.bias")
    sd["0.weight"] = torch.zeros(5, 3)
    sd["extra"] = torch.zeros(1)
    mism = tmp_path / "mismatch.pt"
    torch.save(sd, mism)
    with pytest.raises(BenchlibError) as e:
        S.load_weights(model, mism)
    msg = str(e.value)
    assert "mismatch.pt" in msg and "missing keys: 1.bias" in msg and "unexpected keys: extra" in msg
    assert "0.weight: file (5, 3) vs model (4, 3)" in msg
    notsd = tmp_path / "list.pt"
    torch.save([1, 2, 3], notsd)
    with pytest.raises(BenchlibError, match="not a model state dict"):
        S.load_weights(model, notsd)
    with pytest.raises(BenchlibError, match="not found"):
        S.checkpoint_path({"hiera_t": tmp_path / "nope.pt"}, "hiera_t")
    with pytest.raises(BenchlibError, match="unknown SAM variant"):
        S.build("vit_x")


# ----------------------------------------------------------------------------- measuring helpers
@pytest.mark.parametrize("kernel_mark", [True, False])
def test_peak_memory_sees_an_allocation(monkeypatch, kernel_mark):
    if not kernel_mark:  # the sampling fallback, where /proc/self/clear_refs cannot be written
        monkeypatch.setattr(M.PeakMemory, "_reset_hwm", staticmethod(lambda: False))
    with M.PeakMemory("cpu") as pm:
        a = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
        time.sleep(0.05)
        del a
    assert pm._use_hwm == (kernel_mark and M.PeakMemory._reset_hwm())
    assert 150 < pm.peak_mb < 400


def test_module_timer_splits_time():
    class Sleep(torch.nn.Module):
        def forward(self, x):
            time.sleep(0.05)
            return x

    m = Sleep()
    t = M.ModuleTimer({"sleep": m}, "cpu")
    m(torch.zeros(1)); m(torch.zeros(1))
    got = t.take()["sleep"]
    t.close()
    assert 0.09 < got < 0.3
    assert t.take()["sleep"] == 0.0


def test_strides():
    assert M.strides([(1, 96, 64, 64), (1, 192, 32, 32)], 256) == [4, 8]
    assert M.strides([(1, 16, 16, 768)], 256, channels_last=True) == [16]


def test_architecture_checks_hold_and_can_fail(hiera_t):
    enc = M.WholeEncoder(hiera_t, "hiera_t", M.test_image(128), "cpu")
    with S.inference("cpu"):
        t, peak = enc.step()
    assert t > 0 and peak is not None and peak >= 0 and enc.last_cpu_s > 0
    assert enc.shapes["trunk"] == [(1, 96, 32, 32), (1, 192, 16, 16), (1, 384, 8, 8), (1, 768, 4, 4)]
    checks = A.architecture_checks(hiera_t, enc.shapes, enc.predictor, 128)
    assert checks["held"].iloc[:3].tolist() == [True, True, True]
    assert checks.set_index("id")["held"][["memory_attention_stride16", "sam_vit_single_stride"]].isna().all()
    # A neck that fused nothing top-down would fail the FPN statement.
    neck = hiera_t.image_encoder.neck
    saved = neck.fpn_top_down_levels
    neck.fpn_top_down_levels = []
    try:
        assert not A.architecture_checks(hiera_t, enc.shapes, enc.predictor, 128)["held"].iloc[1]
    finally:
        neck.fpn_top_down_levels = saved
    # SAM's ViT at a single stride: from the shapes a ViT records (channels last inside the blocks)
    sam_shapes = {"patch embed": [(1, 8, 8, 768)], "block 0": [(1, 8, 8, 768)], "encoder output": [(1, 256, 8, 8)]}
    row = A.architecture_checks(hiera_t, enc.shapes, enc.predictor, 128, sam_shapes).set_index("id").loc["sam_vit_single_stride"]
    assert bool(row["held"])
    sam_shapes["block 0"] = [(1, 4, 4, 768)]  # a block at stride 32 breaks the statement
    row = A.architecture_checks(hiera_t, enc.shapes, enc.predictor, 128, sam_shapes).set_index("id").loc["sam_vit_single_stride"]
    assert not row["held"]


class FakeTimer:
    """A timer whose step() returns a fixed time and logs the call order."""

    def __init__(self, name, seconds, log):
        self.name, self.seconds, self.log = name, seconds, log

    def step(self):
        self.log.append(self.name)
        return self.seconds, None


def test_interleaved_rotates_the_order_and_pairs_rounds():
    log = []
    timers = {k: FakeTimer(k, s, log) for k, s in (("a", 1.0), ("b", 2.0), ("c", 3.0))}
    out = M.interleaved(timers, rounds=3, warmup=1, device="cpu")
    # warm-up round a b c, then rounds rotated by one each time: b c a, c a b, a b c
    assert log == list("abc") + list("bca") + list("cab") + list("abc")
    assert out["b"]["times_s"] == [2.0, 2.0, 2.0] and len(out["a"]["peak_mb"]) == 3
    assert np.isnan(out["a"]["peak_mb"]).all()  # no memory reported: NaN, not 0
    assert np.isnan(out["a"]["cpu_s"]).all()  # no CPU time reported (composed timers): NaN
    timers["a"].last_cpu_s = 0.75
    assert M.interleaved(timers, rounds=2, warmup=0, device="cpu")["a"]["cpu_s"] == [0.75, 0.75]


def test_composed_vit_sums_its_parts(monkeypatch):
    comp = M.ComposedViT("vit_b", 64, "cpu")
    assert (comp.n_windowed, comp.n_global) == (8, 4)  # ViT-B: global attention in blocks 2, 5, 8, 11
    fake = {"patch embed": 0.5, "windowed block": 0.1, "global block": 0.2, "neck": 0.3}
    calls = iter(fake.values())
    monkeypatch.setattr(M, "timed", lambda fn, device: next(calls))
    total, mem = comp.step()
    assert total == pytest.approx(0.5 + 8 * 0.1 + 4 * 0.2 + 0.3) and mem is None
    assert comp.parts_s["global block"] == [0.2]


def test_weights_mb_counts_parameters_and_buffers():
    m = torch.nn.BatchNorm1d(256)  # 512 parameters + 2 × 256 running stats + 1 int64 counter
    assert M.weights_mb(m) == pytest.approx((1024 * 4 + 8) / 2**20)


def test_prompt_encoders_have_no_text_input():
    params, p = E.build_tables(["vit_b", "hiera_t"])
    assert list(p["family"]) == ["SAM", "SAM 2"] and set(params["variant"]) == {"vit_b", "hiera_t"}
    assert set(p["inputs"]) == {"points, boxes, masks"}
    assert not p["text_input"].any() and (p["text_modules"] == "").all()


def test_prompt_inputs_would_see_a_text_prompt():
    """The inspection finds a text argument and a text-encoder module when a model has them."""
    class Prompt(torch.nn.Module):
        def forward(self, points, boxes, masks, text_tokens):
            return points

    class WithText(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.prompt_encoder = Prompt()
            self.clip_text_encoder = torch.nn.Linear(2, 2)

    p = A.prompt_inputs([("x", "X", "SAM", WithText())]).iloc[0]
    assert p["text_input"] and p["inputs"] == "points, boxes, masks, text_tokens"
    assert p["text_modules"] == "clip_text_encoder"



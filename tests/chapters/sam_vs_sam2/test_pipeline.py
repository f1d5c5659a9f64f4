"""SAM vs SAM 2 chapter: parameter counting, checkpoint loading, measurement helpers, claims."""
import time

import numpy as np
import pandas as pd
import pytest
import torch

from benchlib import BenchlibError
from benchlib.experiments import sam_vs_sam2 as E
from benchlib.models import sam as S


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
def test_peak_memory_sees_an_allocation():
    with E.PeakMemory("cpu") as pm:
        a = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
        time.sleep(0.05)
        del a
    assert 150 < pm.peak_mb < 400


def test_module_timer_splits_time():
    class Sleep(torch.nn.Module):
        def forward(self, x):
            time.sleep(0.05)
            return x

    m = Sleep()
    t = E.ModuleTimer({"sleep": m}, "cpu")
    m(torch.zeros(1)); m(torch.zeros(1))
    got = t.take()["sleep"]
    t.close()
    assert 0.09 < got < 0.3
    assert t.take()["sleep"] == 0.0


def test_strides_and_prompt_point():
    assert E.strides([(1, 96, 64, 64), (1, 192, 32, 32)], 256) == [4, 8]
    assert E.strides([(1, 16, 16, 768)], 256, channels_last=True) == [16]
    m = np.zeros((9, 9), bool)
    m[2:7, 2:7] = True  # a 5 x 5 square: its centre is the one pixel farthest from the edge
    assert E.prompt_point(m) == (4, 4)


def test_architecture_checks_hold_and_can_fail(hiera_t):
    meas = E.measure_image(hiera_t, "hiera_t", 128, "cpu", warmup=0, repeats=1, prompt_repeats=1)
    assert meas["shapes"]["trunk"] == [(1, 96, 32, 32), (1, 192, 16, 16), (1, 384, 8, 8), (1, 768, 4, 4)]
    checks = E.architecture_checks(hiera_t, meas, None, None)
    assert checks["held"].iloc[:3].tolist() == [True, True, True]
    # A neck that fused nothing top-down would fail the FPN statement.
    neck = hiera_t.image_encoder.neck
    saved = neck.fpn_top_down_levels
    neck.fpn_top_down_levels = []
    try:
        assert not E.architecture_checks(hiera_t, meas, None, None)["held"].iloc[1]
    finally:
        neck.fpn_top_down_levels = saved


# ----------------------------------------------------------------------------- claims and tables
def _lat(key, s, res=1024):
    v = S.variant(key)
    return {"variant": key, "model": v.label, "family": v.family, "resolution": res, "compiled": False,
            "encoder_s": float(np.median(s)), "encoder_times_s": list(s)}


def test_claim_speedup_ratio():
    lat = {"vit_h": _lat("vit_h", [6.0, 6.2, 5.8]), "hiera_b+": _lat("hiera_b+", [1.0, 1.1, 0.9])}
    v, ev, ratio = E.claim_speedup(lat, None, 130.1 / 21.7)
    assert v == "held" and ratio == pytest.approx(6.0) and "6.00×" in ev
    lat["vit_h"] = _lat("vit_h", [3.0, 3.0, 3.0])
    assert E.claim_speedup(lat, None, 6.0)[0] == "not held"
    assert E.claim_speedup({"hiera_b+": lat["hiera_b+"]}, None, 6.0)[0] == "not tested"
    composed = {"encoder_s": 12.0, "n_windowed": 28, "n_global": 4}
    v, ev, ratio = E.claim_speedup({"hiera_b+": lat["hiera_b+"]}, composed, 6.0)
    assert ratio == pytest.approx(12.0) and "composed" in ev


def test_claim_efficiency():
    tot = pd.DataFrame({"variant": ["vit_b", "hiera_b+"], "params_M": [93.7, 80.9]})
    assert E.claim_efficiency(tot, {})[0] == "not tested"
    lat = {"vit_b": _lat("vit_b", [10, 11, 10.5]), "hiera_b+": _lat("hiera_b+", [3, 3.2, 3.1])}
    assert E.claim_efficiency(tot, lat)[0] == "held"
    lat["hiera_b+"] = _lat("hiera_b+", [12, 13, 12.5])
    assert E.claim_efficiency(tot, lat)[0] == "not held"


def test_table1_keeps_review_text_and_adds_measured_column():
    t = E.table1_measured({"Computational Efficiency": "X"})
    assert len(t) == 10 and list(t.columns) == ["Feature", "SAM (review)", "SAM 2 (review)", "measured here"]
    row = t.set_index("Feature").loc["Computational Efficiency"]
    assert row["measured here"] == "X" and row["SAM 2 (review)"].startswith("Likely optimized")
    assert t.set_index("Feature").loc["Objective", "measured here"].startswith("—")


def test_prompt_encoders_have_no_text_input():
    assert not E.prompt_inputs()["text_input"].any()

"""`benchlib plan` and the paper profile's refusal: data found / missing with the expected layout,
the device, an estimate whose arithmetic is checked by hand (the timed calls are replaced by a fake
of known cost), FLOP counting checked by hand, and `run --profile paper` refusing without data
and running on a tiny real-format tree with `--yes`."""
from __future__ import annotations

import json
import math
import time

import pytest
import torch

from benchlib import plan as P
from benchlib.cli import main
from benchlib.plan import Calibration, ChapterPlan, DataCheck, Estimate, Plan, refusals
from benchlib.plan import timing as T
from benchlib.plan import whole as W

SAT = "satellite_resnet"


def fake_calibrate(build, shapes, device, multiple=1, convnet=False, **kw):
    """Known cost: a training call 1e-6 s per input pixel, a forward 1e-7 s (nothing is timed)."""
    return {name: Calibration((1e-6 if train else 1e-7) * shape[0] * math.prod(shape[2:]), tuple(shape),
                              tuple(shape), None) for name, (shape, train) in shapes.items()}


@pytest.fixture
def fake_timing(monkeypatch):
    calls = []

    def fake(*a, **k):
        calls.append(a[1])
        return fake_calibrate(*a, **k)

    monkeypatch.setattr(T, "calibrate", fake)
    return calls


def sat_tree(root):
    """The satellite chapter's real format (GeoTIFF folders), small: six 160² training scenes."""
    from benchlib.chapters.satellite_resnet import data as D

    D.write_twin(root, seed=0, scale=60.0, train_size=160)
    return root


TINY = [("-p", SAT, k, v) for k, v in [("models", '["prop18"]'), ("refine_models", "[]"), ("n_seeds", "1"),
                                        ("max_epochs", "2"), ("monitor", '"cost"'), ("batch", "8"), ("crop", "32"),
                                        ("tile", "64"), ("stride", "64"), ("infer_tile", "128"),
                                        ("infer_stride", "120"), ("width", "16"), ("block", "32")]]
TINY_ARGS = [a for t in TINY for a in t]


def test_plan_paper_without_data_names_every_missing_dataset(tmp_path, capsys, fake_timing):
    data = tmp_path / "empty"
    data.mkdir()
    assert main(["plan", "--profile", "paper", "--data-root", str(data), "--results-root", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "device: " in out and ("CPU only" in out or "CUDA" in out)
    blocks = out.split("\n== ")[1:]
    from benchlib.chapters import all_specs

    assert [b.split(" ")[0] for b in blocks] == [s.id for s in all_specs()]
    for b in blocks:
        if b.startswith("metrics_appendix"):
            assert "none needed" in b
            continue
        assert "MISSING at" in b and "expected layout" in b, b
        assert "estimate ≈" in b or "estimate ≤" in b, b
    assert "<data_root>/train/images/<area>.tif" in out          # the satellite layout
    assert "VOCdevkit/VOC2012" in out and "metadata/" in out     # VOC, FORB


def test_plan_finds_a_real_format_tree_and_its_estimate_is_the_hand_count(tmp_path, capsys, fake_timing):
    data = sat_tree(tmp_path / "sat")
    assert main(["plan", "--profile", "paper", "--only", SAT, "--data-root", str(data), "--json",
                 "--results-root", str(tmp_path / "r"), *TINY_ARGS]) == 0
    plan = json.loads(capsys.readouterr().out)
    ch = plan["chapters"][0]
    d = ch["data"][0]
    assert d["status"] == "found" and d["counts"]["train scenes"] == 6 and d["counts"]["test scenes"] == 3
    assert d["counts"]["bands"] == "4"
    # By hand: a 160² scene with 64-px tiles at stride 64 and a 32-row validation band has training
    # tiles at rows 0, 64 × columns 0, 64, 96 = 6 and validation crops at columns 0, 32, …, 128 = 5;
    # six scenes: 36 tiles (5 batches of 8), 30 crops (4 batches). Two epochs of one network:
    train_step, val_batch = 1e-6 * 8 * 32 * 32, 1e-7 * 8 * 32 * 32
    assert ch["estimate"]["parts"]["training"] == pytest.approx(2 * (5 * train_step + 4 * val_batch))
    # Test areas at scale 60: 75×100, 64×64, 110×145 → 1 + 1 + 2 tiles of 128 → one batch of 4 tiles
    assert ch["estimate"]["parts"]["evaluation"] == pytest.approx(1e-7 * 4 * 128 * 128)
    assert ch["estimate"]["upper_bound"] is True
    assert [r["row"] for r in ch["rows"] if r["runs"]][1:] == ["Table II Prop-18"]


def test_paper_run_without_data_refuses_quickly_with_the_reason(tmp_path, capsys, fake_timing):
    data = tmp_path / "empty"
    data.mkdir()
    t0 = time.perf_counter()
    rc = main(["run", "--profile", "paper", "--only", SAT, "--data-root", str(data),
               "--results-root", str(tmp_path / "r")])
    assert rc != 0 and time.perf_counter() - t0 < 60
    out, err = capsys.readouterr()
    assert "MISSING at" in out and "expected layout" in out            # the plan came first
    assert "not started" in err and "--allow-twins" in err and "--data-root YOUR_DATA" in err
    assert fake_timing == []                                           # refused before any calibration
    assert not (tmp_path / "r" / "paper").exists()


def test_refusal_rules():
    def plan(seconds, cuda=False, status="found", weight=None):
        cp = ChapterPlan("c", data=[DataCheck("D", "data_root", "/d", status, problems=["/d/x: bad"])],
                         estimate=Estimate(seconds))
        if weight:
            from benchlib.plan import WeightCheck

            cp.weights = [WeightCheck("w", "/w.pt", weight, detail="/w.pt: corrupt")]
        return Plan("paper", "/d", "/r", {"cuda": cuda, "description": "x"}, [cp])

    assert refusals(plan(60.0)) == []
    slow = refusals(plan(3 * 3600.0))
    assert len(slow) == 1 and "--yes" in slow[0] and "3.0 h" in slow[0]
    assert refusals(plan(3 * 3600.0), yes=True) == []
    assert refusals(plan(3 * 3600.0, cuda=True)) == []
    assert refusals(plan(3 * 3600.0), cpu_limit_s=4 * 3600) == []
    assert "--allow-twins" in refusals(plan(1.0, status="missing"))[0]
    assert refusals(plan(1.0, status="missing"), allow_twins=True) == []
    assert "/d/x: bad" in refusals(plan(1.0, status="invalid"), allow_twins=True)[0]
    assert "/w.pt: corrupt" in refusals(plan(1.0, weight="invalid"))[0]


def test_count_flops_of_a_convolution_by_hand():
    build = lambda shape: torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)  # noqa: E731
    # 2 FLOPs per multiply-add: 2 × (2 × 8 × 16 × 16 outputs) × (3 × 3 × 3 inputs each)
    assert T.count_flops(build, (2, 3, 16, 16)) == 2 * 2 * 8 * 16 * 16 * 27
    assert T.count_flops(build, (2, 3, 16, 16), train=True) == 3 * 2 * 2 * 8 * 16 * 16 * 27


def test_paper_run_over_the_cpu_limit_needs_yes(tmp_path, capsys, monkeypatch):
    """With data present, a CPU-only estimate over the limit refuses; --yes starts the run (the
    runner is replaced here: the real run is the next test)."""
    import benchlib.runner

    monkeypatch.setattr(T, "calibrate", lambda *a, **k: {n: Calibration(3600.0, s, s, None)
                                                         for n, (s, _) in a[1].items()})
    monkeypatch.setattr(W, "device_info", lambda: {"cuda": False, "cpu_cores": 2, "torch": torch.__version__,
                                                   "description": "CPU only: 2 cores, no CUDA GPU"})
    started = []
    monkeypatch.setattr(benchlib.runner, "run", lambda **kw: started.append(kw) or [{"status": "ok"}])
    data = sat_tree(tmp_path / "sat")
    args = ["run", "--profile", "paper", "--only", SAT, "--data-root", str(data), *TINY_ARGS]
    assert main(args) == 2 and started == []
    err = capsys.readouterr().err
    assert "exceeds 2.0 h" in err and "--yes" in err and "CPU only" in err
    assert main([*args, "--yes"]) == 0
    assert started[0]["profile"] == "paper" and started[0]["overrides"][SAT]["models"] == ["prop18"]


@pytest.mark.slow
def test_paper_run_with_yes_on_a_tiny_real_format_tree(tmp_path, capsys):
    data = sat_tree(tmp_path / "sat")
    rc = main(["run", "--profile", "paper", "--only", SAT, "--data-root", str(data), "--yes", "--jobs", "1",
               "--results-root", str(tmp_path / "r"), *TINY_ARGS])
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    assert "FOUND at" in out and "6 train scenes" in out
    run = json.loads((tmp_path / "r" / "paper" / SAT / "run.json").read_text())
    assert run["status"] == "ok" and run["profile"] == "paper"
    assert "GeoTIFF folder at" in (tmp_path / "r" / "paper" / SAT / "results.csv").read_text()
    # the run checkpointed every epoch (paper profile) and removed its checkpoints once done
    assert not (tmp_path / "r" / ".checkpoints" / "paper" / SAT).exists()


def test_plan_lists_saved_checkpoints(tmp_path, capsys, fake_timing):
    from benchlib.torchutil import TrainingCheckpoint, checkpoint_folder

    folder = checkpoint_folder(tmp_path / "r", "paper", SAT)
    TrainingCheckpoint(folder, "prop18-seed0", "k").save({"w": torch.ones(1)}, 7)
    TrainingCheckpoint(folder, "unet19-seed0", "k").save({"w": torch.ones(1)}, 9, finished=True)
    data = sat_tree(tmp_path / "sat")
    assert main(["plan", "--only", SAT, "--data-root", str(data), "--results-root", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "checkpoint prop18-seed0: epoch 7" in out and "checkpoint unet19-seed0: finished" in out


def test_a_broken_chapter_plan_is_shown_and_does_not_refuse(tmp_path, monkeypatch, fake_timing):
    from benchlib.chapters.satellite_resnet import plan as sat_plan

    def broken(ctx, plan):
        raise KeyError("oops")

    monkeypatch.setattr(sat_plan, "estimate", broken)
    data = sat_tree(tmp_path / "sat")
    plan = P.make_plan("paper", only=[SAT], data_root=data, results_root=tmp_path / "r")
    c = plan.chapters[0]
    assert c.estimate is None and any("KeyError" in n for n in c.notes) and c.error == ""
    assert refusals(plan) == []


def test_plan_lists_checkpoints_in_the_folder_the_run_will_use(tmp_path, capsys, fake_timing):
    from benchlib.torchutil import TrainingCheckpoint

    mine = tmp_path / "my_checkpoints"
    TrainingCheckpoint(mine, "prop18-seed0", "k").save({"w": torch.ones(1)}, 3)
    data = sat_tree(tmp_path / "sat")
    args = ["plan", "--only", SAT, "--data-root", str(data), "--results-root", str(tmp_path / "r")]
    assert main(args) == 0
    assert "prop18-seed0" not in capsys.readouterr().out   # not in the default folder
    assert main([*args, "-p", SAT, "checkpoint_dir", str(mine)]) == 0
    assert "checkpoint prop18-seed0: epoch 3" in capsys.readouterr().out


def test_each_chapter_estimate_gets_a_share_of_the_plans_minute(monkeypatch, tmp_path):
    """The whole plan answers within about a minute: every chapter's estimate is given at most
    CHAPTER_BUDGET_S, all of them together at most PLAN_BUDGET_S, and time stays kept for the
    chapters still to come (each estimate here pretends to use its whole share)."""
    now = [0.0]
    monkeypatch.setattr(W.time, "perf_counter", lambda: now[0])
    given = []

    def fake(spec, cp, profile, params, data_root, results_root, budget_s):
        given.append(budget_s)
        now[0] += budget_s

    monkeypatch.setattr(W, "estimate_chapter", fake)
    data = tmp_path / "empty"
    data.mkdir()
    P.make_plan("paper", data_root=data, results_root=tmp_path / "r")
    from benchlib.chapters import all_specs

    assert len(given) == len(all_specs())
    assert max(given) <= W.CHAPTER_BUDGET_S and sum(given) <= W.PLAN_BUDGET_S + 1e-9
    assert given[-1] >= 1.0          # the last chapter still gets time
    assert given[0] == W.CHAPTER_BUDGET_S


def test_plan_on_a_cuda_machine_times_on_the_device(tmp_path, monkeypatch, capsys):
    """Devices mocked: with CUDA present the chapters' calibrations are asked for the CUDA device,
    and the plan says the device and reports the confidence and the load it saw."""
    seen = []

    def fake(build, shapes, device, multiple=1, convnet=False, **kw):
        seen.append(torch.device(device).type)
        return {n: Calibration(0.01, s, s, None, confidence="high") for n, (s, _) in shapes.items()}

    monkeypatch.setattr(T, "calibrate", fake)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(W, "device_info", lambda: {"cuda": True, "cpu_cores": 16, "torch": torch.__version__,
                                                   "gpus": ["Fake GPU"], "description": "CUDA: Fake GPU"})
    data = sat_tree(tmp_path / "sat")
    assert main(["plan", "--only", SAT, "--data-root", str(data), "--results-root", str(tmp_path / "r"),
                 *TINY_ARGS]) == 0
    out = capsys.readouterr().out
    assert seen and set(seen) == {"cuda"}
    assert "device: CUDA: Fake GPU" in out
    assert "confidence high; load average" in out and "1-minute load average" in out

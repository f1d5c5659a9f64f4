"""The plan's timing engine (`benchlib.plan.timing`, issue 30).

Two kinds of test:
- the engine's arithmetic and choices against a fake clock (a network whose calls cost a known
  fixed + per-pixel time): the fit gives that cost back, the sizes it times, when it times the
  target itself, the thread conversion, the budget shares, and the CUDA path with devices mocked;
- real training steps: for two networks of each chapter that trains, one chapter-like step (the
  chapter's network, optimiser and loss at a reduced size) is timed directly, and the plan's
  estimate for that size, extrapolated from smaller inputs within a short budget, must lie within
  2× of it — also with a CPU-burning process beside the estimate.

The direct timing is the timing thread's CPU time of a 1-thread step (the least of two after a
warm-up): what the step costs on a quiet core, which stays true when other work shares the machine
(a wall clock would time the neighbours too). The estimate is asked for one thread as well, so the
comparison checks the engine's extrapolation; the conversion to more threads is checked apart."""
from __future__ import annotations

import contextlib
import math
import subprocess
import sys
import time

import pytest
import torch
import torch.nn.functional as F

from benchlib.plan import timing as T


# =========================================================================== against a fake clock
class FakeClock:
    """Calls cost FIXED + RATE × pixels (training; a forward a third of it) of CPU time, and
    `busy` × that of wall time. Records the shapes it timed."""

    FIXED, RATE = 0.1, 1e-5

    def __init__(self, monkeypatch, busy=1.0):
        self.timed, self.busy, self.now = [], busy, 1000.0
        monkeypatch.setattr(T, "_materialise", lambda build, shape, device: torch.nn.Identity())
        monkeypatch.setattr(T, "_step", lambda model, shape, train, device: (tuple(shape), train))
        monkeypatch.setattr(T, "_timed", self.timed_call)
        monkeypatch.setattr(T, "_warm_up", lambda device: None)
        monkeypatch.setattr(T.time, "perf_counter", lambda: self.now)

    def cost(self, shape, train=True):
        return (self.FIXED + self.RATE * shape[0] * math.prod(shape[2:])) / (1 if train else 3)

    def timed_call(self, step, device):
        shape, train = step
        self.timed.append(shape)
        t = self.cost(shape, train)
        self.now += t * self.busy
        return t, t * self.busy


def test_fit_line_by_hand():
    # 1 + 2w through (1, 3), (2, 5), (4, 9): exact, no residual
    assert T.fit_line([(1, 3.0), (2, 5.0), (4, 9.0)]) == pytest.approx((1.0, 2.0, 0.0))
    # a per-unit cost that grows with size: the least-squares line (rate 61/28) would cross zero at
    # a positive size (fixed −1.25) → the line through the origin and the largest point instead
    assert T.fit_line([(1, 1.0), (2, 3.0), (4, 7.5)])[:2] == pytest.approx((0.0, 7.5 / 4))
    # two points: the line through them
    assert T.fit_line([(2, 1.0), (6, 2.0)])[:2] == pytest.approx((0.5, 0.25))


def test_convnet_fit_gives_the_fixed_and_per_pixel_cost_back(monkeypatch):
    """Within a budget too short for the target (8×3×256² costs 5.34 s), the engine times 1-sample
    inputs of 64 px a side (MIN_SIDE, 4 `multiple`s) and 192 (the first with 8× the pixels), then
    the largest that fits, and carries the fit to the target: the fixed cost counted once, not
    multiplied by the pixel ratio."""
    clock = FakeClock(monkeypatch)
    target = (8, 3, 256, 256)
    cal = T.calibrate(None, {"step": (target, True), "fwd": ((2, 3, 256, 256), False)}, "cpu", multiple=16,
                      convnet=True, end=clock.now + 2.0)
    assert clock.timed == [(1, 3, 64, 64), (1, 3, 192, 192), (1, 3, 256, 256)]
    assert len(clock.timed) >= 3 and target not in clock.timed
    assert sum(clock.cost(s) for s in clock.timed) <= 2.0   # the budget held
    assert cal["step"].seconds == pytest.approx(clock.cost(target))
    assert cal["fwd"].seconds == pytest.approx(clock.cost((2, 3, 256, 256)) / 3)   # a forward: ⅓ of a step
    assert cal["step"].seconds < clock.cost((1, 3, 64, 64)) * 8 * 256 * 256 / 64 ** 2   # what a plain ratio gives
    assert cal["step"].confidence == "medium" and cal["step"].busy == pytest.approx(1.0)
    assert "over 3 size(s), 1×3×64×64 … 1×3×256×256, ×" in cal["step"].describe()


def test_the_target_itself_is_timed_when_the_fit_says_it_fits(monkeypatch):
    clock = FakeClock(monkeypatch)
    target = (4, 3, 128, 128)   # 0.755 s
    cal = T.calibrate(None, {"step": (target, True)}, "cpu", multiple=16, convnet=True, end=clock.now + 5.0)
    assert clock.timed == [(1, 3, 64, 64), (2, 3, 128, 128), target]   # 8× the pixels, then the target
    assert cal["step"].seconds == pytest.approx(clock.cost(target))
    assert cal["step"].confidence == "high" and cal["step"].describe().startswith("timed at 4×3×128×128")


def test_tiny_calls_grow_past_the_timer_noise(monkeypatch):
    """Calls under MIN_CALL_S are mostly overhead: the engine skips ahead to inputs that last, and
    times a target that would itself be that short."""
    clock = FakeClock(monkeypatch)
    monkeypatch.setattr(FakeClock, "FIXED", 0.001)
    cal = T.calibrate(None, {"step": ((2, 1, 96, 96), True)}, "cpu", multiple=8, convnet=True, end=clock.now + 0.01)
    # 1×64² costs 0.042 s: a 2×96² call (0.185 s) is then timed whatever the tiny budget
    assert clock.timed[0] == (1, 1, 64, 64) and len(clock.timed) == 2
    assert cal["step"].seconds == pytest.approx(clock.cost((2, 1, 96, 96)))


def test_a_spent_budget_still_gets_two_sizes_and_says_low(monkeypatch):
    clock = FakeClock(monkeypatch, busy=3.0)   # a third of a core: every call takes 3× its CPU time
    cal = T.calibrate(None, {"step": ((8, 3, 256, 256), True)}, "cpu", multiple=16, convnet=True,
                      end=clock.now + 0.1)
    assert len(clock.timed) == 2
    assert cal["step"].confidence == "low" and cal["step"].busy == pytest.approx(3.0)
    # two exact points still give the true line (CPU time does not see the load)
    assert cal["step"].seconds == pytest.approx(clock.cost((8, 3, 256, 256)))


def test_one_threads_time_is_carried_to_the_chapters_threads(monkeypatch):
    clock = FakeClock(monkeypatch)
    monkeypatch.setattr(T.os, "cpu_count", lambda: 8)
    one = T.calibrate(None, {"s": ((2, 3, 64, 64), True)}, "cpu", 8, convnet=True, end=clock.now + 9)["s"]
    four = T.calibrate(None, {"s": ((2, 3, 64, 64), True)}, "cpu", 8, convnet=True, threads=4,
                       end=clock.now + 9)["s"]
    assert T.thread_speedup(4) == pytest.approx(1 + 3 * T.THREAD_EFFICIENCY)
    assert four.seconds == pytest.approx(one.seconds / T.thread_speedup(4))
    assert T.thread_speedup(64) == T.thread_speedup(8)   # capped at the cores


def test_attention_networks_are_fitted_over_batches_and_scaled_by_flops(monkeypatch):
    """A non-convolutional network: one sample at sides shrunk to about max_flops, timed at batches
    1, 2, 3; the per-sample time is carried to the full side by the FLOP ratio."""
    clock = FakeClock(monkeypatch)
    flops = {(1, 3, 256, 256): 64e9, (1, 3, 64, 64): 4e9}   # not proportional to pixels (×16 pixels, ×16 FLOPs)
    monkeypatch.setattr(T, "count_flops", lambda build, shape, train=False, model=None: flops[tuple(shape)])
    cal = T.calibrate(None, {"fwd": ((1, 3, 256, 256), True)}, "cpu", multiple=32, max_flops=4e9,
                      end=clock.now + 9)["fwd"]
    assert clock.timed == [(1, 3, 64, 64), (2, 3, 64, 64), (3, 3, 64, 64)]
    per_sample = clock.RATE * 64 * 64
    assert cal.seconds == pytest.approx(clock.FIXED + per_sample * 16)
    assert cal.confidence == "medium" and "by FLOPs" in cal.how


def test_attention_network_with_a_spent_budget_times_one_batch_and_says_low(monkeypatch):
    """Beside a busy machine a SAM-sized encoder is timed once: the plain FLOP ratio then counts
    the fixed part (a pass over the weights) at every sample, an upper bound."""
    clock = FakeClock(monkeypatch)
    flops = {(1, 3, 256, 256): 64e9, (1, 3, 64, 64): 4e9}
    monkeypatch.setattr(T, "count_flops", lambda build, shape, train=False, model=None: flops[tuple(shape)])
    cal = T.calibrate(None, {"fwd": ((1, 3, 256, 256), True)}, "cpu", multiple=32, max_flops=4e9,
                      end=clock.now)["fwd"]
    assert clock.timed == [(1, 3, 64, 64)]
    assert cal.seconds == pytest.approx(clock.cost((1, 3, 64, 64)) * 16) and cal.confidence == "low"


def test_budget_shares_are_equal_and_unused_time_flows_on(monkeypatch):
    """Three networks on one worker with 9 s: the first gets a third; the next share is worked out
    from what is left when it starts (the first used only 1 s: the second gets half of 8 s)."""
    now = [0.0]
    monkeypatch.setattr(T.time, "perf_counter", lambda: now[0])
    ends = []

    def fake(build, shapes, device, multiple, convnet, threads=1, end=None):
        ends.append(end)
        now[0] += build   # the job's own time
        return {"s": build}

    monkeypatch.setattr(T, "calibrate", fake)
    got = T.calibrate_many({k: (t, {"s": ((1, 3, 8, 8), True)}, 1, True) for k, t in (("a", 1.0), ("b", 2.0),
                                                                                    ("c", 1.0))},
                           "cpu", deadline=9.0, workers=1)
    assert list(got) == ["a", "b", "c"] and got["b"] == {"s": 2.0}
    assert ends == pytest.approx([3.0, 1.0 + 8.0 / 2, 3.0 + 6.0])


def test_cuda_path_times_each_shape_as_it_is(monkeypatch):
    """Devices mocked: on a CUDA device nothing is shrunk or fitted, each shape is timed after a
    warm-up, the least of three synchronised calls is kept, and the CPU thread setting is left alone."""
    calls = []
    monkeypatch.setattr(T, "_materialise", lambda build, shape, device: ("model", tuple(shape), str(device)))
    monkeypatch.setattr(T, "_step", lambda model, shape, train, device: (tuple(shape), train, str(device)))
    times = iter([9.0, 0.30, 0.20, 0.25, 5.0, 0.11, 0.10, 0.12])   # warm-up, then three, per shape

    def timed(step, device):
        calls.append(step)
        t = next(times)
        return t, t

    monkeypatch.setattr(T, "_timed", timed)
    monkeypatch.setattr(T, "_warm_up", lambda device: pytest.fail("no CPU warm-up on CUDA"))
    threads = torch.get_num_threads()
    cal = T.calibrate_many({"net": (None, {"train": ((8, 4, 256, 256), True), "fwd": ((4, 4, 512, 512), False)},
                                    32, True)}, torch.device("cuda", 0), threads=16)["net"]
    assert torch.get_num_threads() == threads
    assert [c[:2] for c in calls] == [((8, 4, 256, 256), True)] * 4 + [((4, 4, 512, 512), False)] * 4
    assert all(c[2] == "cuda:0" for c in calls)
    assert cal["train"].seconds == 0.20 and cal["fwd"].seconds == 0.10
    assert cal["train"].confidence == "high" and cal["train"].describe().startswith("timed at 8×4×256×256")


# =========================================================================== real steps
def _sgd_ce(model):
    """Satellite: SGD with momentum and weight decay, per-pixel cross-entropy on two classes."""
    opt = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9, weight_decay=5e-4)
    return opt, lambda x: F.cross_entropy(model(x).float(), torch.zeros(x.shape[0], *x.shape[2:], dtype=torch.long))


def _adamw_seg(model):
    """ORANDNet second stage: AdamW, cross-entropy over 21 classes with void 255."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)

    def loss(x):
        y = torch.zeros(x.shape[0], *x.shape[2:], dtype=torch.long)
        y[:, :2] = 255
        return F.cross_entropy(model(x).float(), y, ignore_index=255)
    return opt, loss


def _adam_mean(model):
    """Any output: Adam on the mean of every floating output (a BCE-like scalar)."""
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def loss(x):
        out = model(x)
        outs = out if isinstance(out, (list, tuple)) else out.values() if isinstance(out, dict) else [out]
        return sum(F.softplus(o.float()).mean() for o in outs if torch.is_tensor(o))
    return opt, loss


def _simclr(model):
    """FORB SimCLR: AdamW, NT-Xent between the two halves of the batch."""
    from benchlib.chapters.forb_retrieval.train import nt_xent

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3, weight_decay=1e-4)

    def loss(x):
        z = model(x)
        return nt_xent(z[: len(x) // 2], z[len(x) // 2:])
    return opt, loss


def _satellite(name, width):
    from benchlib.chapters.satellite_resnet.models import build_model

    return lambda shape: build_model(name, in_channels=4, width=width)


def _orandnet(name):
    from benchlib.chapters.orandnet_voc import models as M

    return {"segnet": lambda shape: M.SegNet(width=24), "orandnet": lambda shape: M.OrAndNet()}[name]


def _cosaliency(name):
    from benchlib.chapters.cosaliency import models as Mo

    return {"lite": lambda shape: Mo.LiteEncoder(), "vgg16/4": lambda shape: Mo.VGG16Encoder(4)}[name]


def _forb(name):
    from benchlib.chapters.forb_retrieval import models

    return {"scratch": lambda shape: models.small_embed_net(), "imagenet": lambda shape: models.imagenet_embed_net()}[name]


# (chapter, network, builder, optimiser + loss, reduced target shape, multiple): two networks of
# each chapter that trains (SAM vs SAM 2 times released encoders and trains nothing)
NETWORKS = [
    ("satellite_resnet", "Prop-18", lambda: _satellite("prop18", 1), _sgd_ce, (4, 4, 128, 128), 32),
    ("satellite_resnet", "U-Net(19) /2", lambda: _satellite("unet19", 2), _sgd_ce, (4, 4, 128, 128), 16),
    ("orandnet_voc", "SegNet", lambda: _orandnet("segnet"), _adamw_seg, (8, 3, 128, 128), 8),
    ("orandnet_voc", "ORANDNet", lambda: _orandnet("orandnet"), _adam_mean, (8, 1, 128, 128), 8),
    ("cosaliency", "EfficientNet-Lite0 encoder", lambda: _cosaliency("lite"), _adam_mean, (4, 3, 192, 192), 16),
    ("cosaliency", "VGG-16 encoder /4", lambda: _cosaliency("vgg16/4"), _adam_mean, (4, 3, 128, 128), 16),
    ("forb_retrieval", "SimCLR scratch CNN", lambda: _forb("scratch"), _simclr, (64, 3, 96, 96), 16),
    ("forb_retrieval", "SimCLR ImageNet Lite", lambda: _forb("imagenet"), _simclr, (64, 3, 96, 96), 16),
]
IDS = [f"{c}:{n}" for c, n, *_ in NETWORKS]
_direct: dict = {}


def _direct_seconds(builder, step_of, shape) -> float:
    """One thread's CPU time of one real step at `shape` (the least of two, after a warm-up)."""
    key = (id(builder), shape)
    if key not in _direct:
        old = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            torch.manual_seed(0)
            model = builder()(shape).train()
            opt, loss = step_of(model)
            x = torch.randn(shape)

            def step():
                opt.zero_grad(set_to_none=True)
                loss(x).backward()
                opt.step()
            step()
            best = math.inf
            for _ in range(2):
                c = time.thread_time()
                step()
                best = min(best, time.thread_time() - c)
        finally:
            torch.set_num_threads(old)
        _direct[key] = best
    return _direct[key]


def _estimate(builder, shape, multiple, direct) -> T.Calibration:
    """The plan's estimate for `shape` on one thread, within a budget short of the step itself
    (so that it extrapolates from smaller inputs instead of timing the target)."""
    cal = T.calibrate(builder(), {"step": (shape, True)}, "cpu", multiple, convnet=True, threads=1,
                      end=time.perf_counter() + 0.6 * direct)["step"]
    print(f"{_shape_txt(shape)}: plan {cal.seconds:.3f} s, real step {direct:.3f} s, ×{cal.seconds / direct:.2f} "
          f"({cal.describe()}; busy {cal.busy:.1f})")
    return cal


def _shape_txt(shape) -> str:
    return "×".join(map(str, shape))


@pytest.mark.parametrize("chapter, name, builder, step_of, shape, multiple", NETWORKS, ids=IDS)
def test_plan_estimate_within_2x_of_a_real_step(chapter, name, builder, step_of, shape, multiple):
    direct = _direct_seconds(builder, step_of, shape)
    cal = _estimate(builder, shape, multiple, direct)
    assert cal.measured_shape != shape, "the budget was meant to make the plan extrapolate"
    assert 0.5 <= cal.seconds / direct <= 2.0, (f"{chapter} {name}: plan {cal.seconds:.3f} s vs a real step "
                                                f"{direct:.3f} s ({cal.describe()})")


@contextlib.contextmanager
def cpu_burner(seconds: int = 60):
    """A CPU-bound process beside the block: it stops by itself after `seconds`, and is killed
    (and waited for) when the block ends, however it ends."""
    p = subprocess.Popen([sys.executable, "-c", f"import time\nend = time.time() + {seconds}\n"
                                                "while time.time() < end: pass"])
    try:
        time.sleep(0.2)
        assert p.poll() is None, "the burner did not start"
        yield p
    finally:
        p.kill()
        p.wait(timeout=10)


@pytest.mark.parametrize("chapter, name, builder, step_of, shape, multiple", NETWORKS, ids=IDS)
def test_plan_estimate_within_2x_with_a_cpu_burner_beside_it(chapter, name, builder, step_of, shape, multiple):
    """The same check while a CPU-bound process competes: the estimate is made beside it and
    compared with the step's time on a core of its own (measured before the burner starts, or by
    the test above)."""
    direct = _direct_seconds(builder, step_of, shape)
    with cpu_burner():
        cal = _estimate(builder, shape, multiple, direct)
    assert 0.5 <= cal.seconds / direct <= 2.0, (f"{chapter} {name} beside a CPU burner: plan {cal.seconds:.3f} s "
                                                f"vs a real step {direct:.3f} s ({cal.describe()})")

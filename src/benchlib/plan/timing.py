"""The timing engine of `benchlib plan`: how long one training step or forward of a chapter's network
takes on the device at hand, measured so that other work on the machine does not distort it.

On a CPU:
- A call is timed by the CPU time of the timing thread (`time.thread_time`), with torch at one
  intra-op thread: what the call costs, whatever the neighbours take. A wall clock counts the
  neighbours too (with one CPU-bound process beside it on 2 cores, a 2-thread step waits for its
  descheduled second thread at every operation: estimates came out 5–95× too long). The CPU time
  at 2 threads is no better: OpenMP threads spin while they wait for each other (measured: 22 s of
  the timing thread's CPU for a step that takes 12.3 s on a quiet machine). One thread's time is
  carried to the chapter's threads by `thread_speedup`.
- A network too big to time at the chapter's size is timed at three or more smaller inputs, and the
  time is fitted as fixed + rate × work: the fixed part (reading and writing every weight, Python,
  the optimiser) is counted once, not multiplied. Work is the pixels (batch × height × width) of a
  convolutional network; for other networks (attention) it is the batch at one reduced side, and
  the per-sample time is carried to the full side by the ratio of FLOPs. The target size itself is
  timed once when the fit so far says it fits in the time left (then nothing is extrapolated).
- Two networks are timed at once, one per thread (thread CPU time is per thread).
- Each chapter has a time budget (`PlanContext.deadline`): inputs grow while it allows, and a busy
  machine gets fewer sizes, with a lower confidence, rather than a longer plan.

On CUDA the chapter's own sizes are timed (synchronised wall time, the minimum of up to three
repeats after a warm-up, bf16 autocast like the chapters).

What a `Calibration` reports besides the seconds: the sizes timed, how the time was carried to the
chapter's size, a confidence (high: the size itself timed, or a fit whose points agree within 10 %
carried at most 2× beyond the largest input; medium: a fit of ≥ 3 sizes within 15 %, carried at most
64×, or FLOP-scaled; low: fewer than three sizes, a poor fit or a longer extrapolation) and how busy
the machine was (wall ÷ CPU time of the timed calls: 1 = a core to itself).
"""
from __future__ import annotations

import math
import os
import threading
import time
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Callable

# One sample of a non-convolutional network is timed at sides shrunk to about this many FLOPs.
CPU_CALIBRATION_FLOPS = 1e10
# Speed-up of each thread beyond the first on a CPU. Measured on this project's 2-core machine (AMD
# EPYC, torch 2.14), a satellite training step of 8×4×256² on 2 threads against one thread's CPU
# time: U-Net(19) 20.2 s vs 38.3 s (1.90×), Prop-152 13.8 s (12.3 s in issue 30) vs 23.8 s
# (1.72–1.94×).
THREAD_EFFICIENCY = 0.9
# Networks timed at once on a CPU (one thread each).
WORKERS = 2
# Time budget of a calibration made without a chapter deadline (seconds of wall time per network).
DEFAULT_BUDGET_S = 8.0
# A call shorter than this is mostly per-call overhead and timer noise: the inputs grow past it
# before a rate is fitted (ORANDNet's 2-ms step at 1×1×32², carried ×128, gave 10× the real step).
MIN_CALL_S = 0.05
# Input sides tried for a convolutional network, in `multiple`s (then the batch is doubled), from
# MIN_SIDE pixels: below it a network's activations sit in the caches and its per-pixel cost is
# half that of a full-size step (U-Net(19): 39 µs per pixel fitted over 32² and 64², 73 µs at 8×256²).
SIDE_STEPS = (2, 4, 6, 8, 12, 16, 24, 32, 48, 64)
MIN_SIDE = 64
CONFIDENCE = ("low", "medium", "high")


def thread_speedup(threads: int) -> float:
    """How much faster a call runs on `threads` CPU threads than on one (capped at the cores)."""
    n = max(1, min(int(threads or 1), os.cpu_count() or 1))
    return 1.0 + (n - 1) * THREAD_EFFICIENCY


def load_seen() -> dict:
    """The machine's load right now: 1-minute load average and cores (empty where unknown)."""
    try:
        return {"loadavg_1min": round(os.getloadavg()[0], 2), "cores": os.cpu_count() or 1}
    except (AttributeError, OSError):
        return {}


def weakest(confidences) -> str:
    got = [c for c in confidences if c in CONFIDENCE]
    return min(got, key=CONFIDENCE.index) if got else ""


@dataclass
class Calibration:
    """Seconds of one call (a training step or a forward) at `shape` on the chapter's device and
    threads, as on a quiet machine."""

    seconds: float
    shape: tuple
    measured_shape: tuple        # the largest input timed
    flops: float | None = None   # of one call at `shape` (training: 3 × the forward's), when counted
    scale: float = 1.0           # seconds / the largest timed input's seconds (1: timed as is)
    how: str = "FLOPs"           # how the time was carried to `shape`
    sizes: list = field(default_factory=list)   # [(input shape, seconds)] timed (CPU: one thread)
    confidence: str = "high"
    threads: int = 1             # CPU: threads the seconds are for (timed on one, ÷ thread_speedup)
    busy: float = 1.0            # wall ÷ CPU time of the timed calls (1: a core to itself)

    def describe(self) -> str:
        if tuple(self.measured_shape) == tuple(self.shape):
            txt = f"timed at {_shape(self.shape)}"
        else:
            shapes = [s for s, _ in self.sizes] or [self.measured_shape]
            txt = (f"{self.how} over {len(shapes)} size(s), {_shape(shapes[0])}"
                   + (f" … {_shape(shapes[-1])}" if len(shapes) > 1 else "") + f", ×{self.scale:.3g}")
        if self.threads > 1:
            txt += f", ÷ {thread_speedup(self.threads):.2g} for {self.threads} threads"
        return txt + f"; {self.confidence} confidence"


def _shape(s) -> str:
    return "×".join(str(int(v)) for v in s)


def cpu_seconds(fn, repeats: int = 1) -> float:
    """CPU seconds of one call of `fn` (the least of `repeats`), counted over every thread of the
    process: for work outside torch that may start its own threads (OpenCV). Not to be run beside a
    calibration (whose threads it would count)."""
    best = math.inf
    for _ in range(max(1, repeats)):
        c = time.process_time()
        fn()
        best = min(best, time.process_time() - c)
    return best


# =========================================================================== building and stepping
def _loss(out):
    """A scalar from a model's output (tensor, tuple / list / dict of tensors) for backward()."""
    import torch

    if isinstance(out, torch.Tensor):
        return out.float().mean() if out.is_floating_point() else None
    items = out.values() if isinstance(out, dict) else out if isinstance(out, (list, tuple)) else []
    parts = [p for p in (_loss(o) for o in items) if p is not None]
    return sum(parts) if parts else None


# Builders that failed to build on the meta device (they compute values while building): not
# tried there again (a SAM 2 build costs 0.35 s of hydra configuration each time).
_NOT_ON_META = weakref.WeakSet()


def _builds_on_meta(build) -> bool:
    """False once `build` has failed to build on meta (True while unknown)."""
    try:
        return build not in _NOT_ON_META
    except TypeError:   # not weak-referenceable: unknown
        return True


def _build_on_meta(build, shape):
    """build(shape) on the meta device, or None when the builder cannot build there."""
    import torch

    if not _builds_on_meta(build):
        return None
    try:
        # builders that load weight files copy them into meta parameters (a no-op torch warns about
        # once per tensor); the values do not matter for counting or timing
        with torch.device("meta"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*meta parameter.*", category=UserWarning)
            return build(tuple(shape))
    except Exception:  # noqa: BLE001 - remembered, and built on the CPU by the callers
        try:
            _NOT_ON_META.add(build)
        except TypeError:
            pass
        return None


def _on_meta(build, shape):
    model = _build_on_meta(build, shape)
    return model if model is not None else build(tuple(shape)).to("meta")


def count_flops(build: Callable, shape: tuple, train: bool = False, model=None) -> float | None:
    """FLOPs of one forward at `shape` (× 3 when `train`: the backward pass costs about twice the
    forward), counted on the meta device (nothing computed or allocated), or by running `model`
    (already built for `shape`) once when given. None when the network cannot be counted."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    try:
        if model is None:
            model, x = _on_meta(build, shape).eval(), torch.empty(tuple(shape), device="meta")
        else:
            model, x = model.eval(), torch.zeros(tuple(shape), device=next(model.parameters()).device)
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            model(x)
        return float(fc.get_total_flops()) * (3 if train else 1)
    except Exception:  # noqa: BLE001 - a network that cannot be counted is timed as is
        return None


def _materialise(build, shape, device):
    """The network on `device` with random values, without its (slow, for 600 M parameters)
    initialisation where the builder allows: built on meta and allocated (a builder that cannot
    build on meta builds it itself), then every weight filled from one pool of normal(0, 0.02)
    values (drawing each value costs 10 s for ViT-H; copying costs a memory pass). Timing does not
    depend on the values as long as they are finite and not denormal (a builder that skips its
    initialisation leaves whatever the memory held)."""
    import torch

    model = _build_on_meta(build, shape)
    model = model.to_empty(device=device) if model is not None else build(tuple(shape)).to(device)
    with torch.no_grad():
        params = list(model.parameters())
        n = max((p.numel() for p in params), default=0)
        pool = torch.randn(max(1, min(n, 1 << 22)), device=device) * 0.02
        for p in params:
            if not p.is_contiguous():
                p.normal_(0, 0.02)
                continue
            flat = p.view(-1)
            for i in range(0, flat.numel(), pool.numel()):
                part = flat[i:i + pool.numel()]
                part.copy_(pool[:part.numel()])
        for b in model.buffers():   # BatchNorm statistics: finite, variance 1
            b.fill_(1) if b.is_floating_point() else b.zero_()
    return model


def _step(model, shape, train: bool, device):
    """One call of the model at `shape`: forward + backward + an SGD step when `train` (the
    chapters' optimisers differ little in time next to the network), else a forward under no_grad."""
    import torch

    from ..torchutil import autocast

    x = torch.randn(tuple(shape), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-9) if train else None

    def step():
        model.train(train)
        with autocast(device):
            if train:
                opt.zero_grad(set_to_none=True)
                loss = _loss(model(x))
                if loss is not None:
                    loss.backward()
                opt.step()
            else:
                with torch.no_grad():
                    model(x)
    return step


def _timed(step, device) -> tuple[float, float]:
    """(seconds, wall seconds) of one call: on a CPU the timing thread's CPU time, on CUDA the
    synchronised wall time."""
    from ..torchutil import synchronize

    if device.type == "cpu":
        w, c = time.perf_counter(), time.thread_time()
        step()
        return time.thread_time() - c, time.perf_counter() - w
    synchronize(device)
    w = time.perf_counter()
    step()
    synchronize(device)
    t = time.perf_counter() - w
    return t, t


_warm = threading.local()


def _warm_up(device) -> None:
    """Once per thread: a tiny network's step and forward, so that the first timed call does not
    pay for initialising the kernels' libraries (measured: +33 % on the first call of a process)."""
    import torch

    if getattr(_warm, "done", False):
        return
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 8, 1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(8, 2)).to(device)
    for b in (1, 2):
        _step(net, (b, 3, 32, 32), True, device)()
        _step(net, (b, 3, 32, 32), False, device)()
    _warm.done = True


# =========================================================================== fitting
def fit_line(points) -> tuple[float, float, float]:
    """Least-squares (fixed, rate, worst relative residual) of seconds = fixed + rate × work over
    `points` [(work, seconds)]. A negative fixed part (the rate falls with size) or rate is replaced
    by the line through the origin and the largest point (an upper bound for larger inputs)."""
    n = len(points)
    if n == 0:
        raise ValueError("no points to fit")
    ws, ts = [float(w) for w, _ in points], [float(t) for _, t in points]
    if n == 1 or max(ws) == min(ws):
        return 0.0, ts[-1] / ws[-1], 0.0
    mw, mt = sum(ws) / n, sum(ts) / n
    rate = sum((w - mw) * (t - mt) for w, t in zip(ws, ts)) / sum((w - mw) ** 2 for w in ws)
    fixed = mt - rate * mw
    if rate <= 0 or fixed < 0:
        top = max(points, key=lambda p: p[0])
        fixed, rate = 0.0, top[1] / top[0]
    resid = max(abs(fixed + rate * w - t) / t for w, t in zip(ws, ts)) if n > 2 else 0.0
    return fixed, rate, resid


def _confidence(n_points: int, exact: bool, extrapolation: float, resid: float, flop_scaled: bool) -> str:
    if exact:
        return "high"
    if n_points < 3 or resid > 0.15 or extrapolation > 64:
        return "low"
    if flop_scaled or resid > 0.10 or extrapolation > 2:
        return "medium"
    return "high"


def _time_sizes(make_step, ladder: list, target: tuple | None, work, device, end: float,
                min_sizes: int = 2, spread: float = 8.0) -> tuple[list, bool]:
    """Time calls of growing size from `ladder` (increasing work) toward `target`:
    1. the first input, then larger ones (skipping ahead) until a call lasts MIN_CALL_S — the
       target itself when a call of it would be as short;
    2. one more, with ≥ `spread` × the work (a fit needs two sizes that mean something) — timed
       whatever the budget (with `min_sizes=1` the second only when it fits: a batch ladder's
       single point over-counts only the weights' pass);
    3. while the fit so far predicts a call ends before `end`: the target itself, or else the
       largest ladder input that fits (a wide spread of sizes pins the rate down best), until three
       sizes are timed and the target is within 4× of the largest.
    Returns ([(shape, seconds, wall seconds)], target timed). An input that fails (e.g. a batch
    norm of one value per channel) is skipped."""
    points = []
    rest = list(ladder)

    def cost(shape) -> float:
        fixed, rate, _ = fit_line([(work(s), t) for s, t, _ in points])
        busy = sum(w for *_, w in points) / max(sum(t for _, t, _ in points), 1e-9)
        return (fixed + rate * work(shape)) * max(busy, 1.0)

    def fits(shape) -> bool:
        return not points or time.perf_counter() + cost(shape) <= end

    def run(shape) -> bool:
        try:
            step = make_step(shape)
            points.append((tuple(shape), *_timed(step, device)))
            return True
        except (RuntimeError, ValueError) as e:
            if "out of memory" in str(e).lower() and not points:
                raise
            return False

    def short(shape) -> bool:   # a call of `shape` would still be under MIN_CALL_S (upper bound: ∝ work)
        s, t, _ = points[-1]
        return t * work(shape) / work(s) <= MIN_CALL_S

    while rest and not points:
        run(rest.pop(0))
    if target is not None and (not points or short(target)):   # nothing smaller, or the target is cheap
        if run(target):
            return points, True
    while rest and points and points[-1][1] < MIN_CALL_S:
        cheap = [s for s in rest if short(s)]
        pick = cheap[-1] if cheap else rest[0]
        rest = rest[rest.index(pick) + 1:]
        run(pick)
    if rest and points:   # the next input with ≥ spread × the work of the last (pins the rate down)
        far = [s for s in rest if work(s) >= spread * work(points[-1][0])]
        pick = far[0] if far else rest[-1]
        if min_sizes >= 2 or fits(pick):
            rest.remove(pick)   # the smaller ones skipped stay available to a ladder without target
            run(pick)
    while target is not None and points:
        if fits(target):
            if run(target):
                return points, True
            break
        if len(_meaningful(points)) >= 3 and work(target) <= 4 * work(points[-1][0]):
            break
        ok = [s for s in rest if work(s) > work(points[-1][0]) and fits(s)]
        if not ok:
            break
        rest = rest[rest.index(ok[-1]) + 1:]
        run(ok[-1])
    while target is None and rest and len(points) < 3 and fits(rest[0]):
        run(rest.pop(0))
    if not points:
        raise RuntimeError(f"no input of {[_shape(s) for s in ladder]} could be timed")
    return sorted(points, key=lambda p: work(p[0])), False


def _meaningful(points) -> list:
    """The points a rate is fitted on: the largest three of those that last MIN_CALL_S / 2 (at
    least the largest two)."""
    long = [p for p in points if p[1] >= MIN_CALL_S / 2]
    return (long if len(long) >= 2 else points[-2:])[-3:]


# =========================================================================== per network
def _conv_ladder(target: tuple, multiple: int) -> list:
    """Inputs of growing size on the way to `target` (a batch × channels × spatial shape): one
    sample with sides of 2, 4, 6, 8, 12, … `multiple`s from MIN_SIDE (capped at the target's), then
    the batch doubled. The first two are 4× apart in pixels: at small inputs the fixed part (a pass over
    every weight: 1 s for Prop-152 on one thread) dwarfs the per-pixel part, and closer sizes
    leave the rate to the timing noise."""
    b, c, *sp = (int(v) for v in target)
    m = max(1, int(multiple))
    out = []
    for k in SIDE_STEPS:
        if k * m < MIN_SIDE and (k + 1) * m <= max(sp):
            continue
        s = (1, c, *[min(v, k * m) for v in sp])
        if s not in out:
            out.append(s)
        if list(s[2:]) == sp:
            break
    bb = 2
    while bb < b and list(out[-1][2:]) == sp:
        out.append((bb, c, *sp))
        bb *= 2
    return [s for s in out if s != (b, c, *sp)]


def _pixels(shape) -> int:
    return int(shape[0]) * math.prod(int(v) for v in shape[2:])


def _calibrate_convnet_cpu(build, shapes: dict, device, multiple: int, threads: int, end: float) -> dict:
    """A fully convolutional network: training steps timed on a ladder of inputs toward the
    largest shape, fixed + rate × pixels fitted over the largest three, every training shape
    extrapolated from it, a forward taken as a third of a training step (the backward pass costs
    about twice the forward)."""
    target = max((tuple(int(v) for v in st[0]) for st in shapes.values()), key=_pixels)
    ladder = _conv_ladder(target, multiple)
    model = _materialise(build, ladder[0] if ladder else target, device)
    points, exact = _time_sizes(lambda s: _step(model, s, True, device), ladder, target, _pixels, device, end)
    last = _meaningful(points)
    fixed, rate, resid = fit_line([(_pixels(s), t) for s, t, _ in last])
    busy = sum(w for *_, w in points) / max(sum(t for _, t, _ in points), 1e-9)
    measured, largest = points[-1][0], points[-1][1]
    speed = thread_speedup(threads)
    out = {}
    for name, (shape, train) in shapes.items():
        shape = tuple(int(v) for v in shape)
        as_is = exact and train and shape == measured
        one = largest if as_is else fixed + rate * _pixels(shape)
        if not train:
            one /= 3
        conf = _confidence(len(last), as_is, _pixels(shape) / _pixels(measured), resid, False)
        how = "fixed + per-pixel fit" + ("" if train else " (a forward: ⅓ of a step)")
        out[name] = Calibration(one / speed, shape, shape if as_is else measured, None, one / largest, how,
                                [(s, t) for s, t, _ in points], conf, threads, busy)
    return out


def _reduced(shape: tuple, flops: float, limit: float, multiple: int) -> tuple:
    """One sample, its spatial sides shrunk (multiples of `multiple`) to about `limit` FLOPs."""
    b, c, *spatial = shape
    per = flops / b
    s = min(1.0, math.sqrt(limit / per))
    return (1, c, *[min(v, max(multiple, int(round(v * s / multiple)) * multiple)) for v in spatial])


def _calibrate_flops_cpu(build, shapes: dict, device, multiple: int, threads: int, end: float,
                         limit: float) -> dict:
    """A network whose cost is not proportional to its pixels (attention): one sample at sides
    shrunk to about `limit` FLOPs, timed at batches 1, 2, 3 (…, the full batch when it fits), fixed
    + rate × samples fitted, the per-sample time carried to the full sides by the FLOP ratio."""
    out, models = {}, {}
    speed = thread_speedup(threads)
    for name, (shape, train) in shapes.items():
        shape = tuple(int(v) for v in shape)
        b = shape[0]
        flops = count_flops(build, shape, train)
        red = _reduced(shape, flops, limit, multiple) if flops else (1, *shape[1:])
        key = red[1:]
        if key not in models:
            models[key] = _materialise(build, red, device)
        model = models[key]
        same_sides = red[2:] == shape[2:]
        # at the chapter's sides: batches on the way to its batch (which is timed when it fits);
        # at reduced sides: batches 1, 2, 3 (the FLOP ratio carries the per-sample time)
        ladder = ([(k, *red[1:]) for k in (1, 2, 3, 4, 8, 16, 32, 64, 128) if k < b] if same_sides
                  else [(k, *red[1:]) for k in (1, 2, 3)])
        points, exact = _time_sizes(lambda s: _step(model, s, train, device), ladder,
                                    shape if same_sides else None, lambda s: s[0], device, end, min_sizes=1,
                                    spread=2.0)
        busy = sum(w for *_, w in points) / max(sum(t for _, t, _ in points), 1e-9)
        last = _meaningful(points)
        fixed, rate, resid = fit_line([(s[0], t) for s, t, _ in last])
        if exact:
            one, ratio = points[-1][1], 1.0
        else:
            # on meta (nothing run) when the builder builds there, else on the network in hand
            small = None if same_sides else (count_flops(build, red, train) if _builds_on_meta(build)
                                             else count_flops(build, red, train, model=model))
            ratio = (flops / b) / small if flops and small else 1.0
            one = fixed + rate * ratio * b
        measured = points[-1][0]
        extrapolation = b * ratio / measured[0]
        conf = _confidence(len(last), exact, extrapolation, resid, not same_sides)
        how = "fixed + per-sample fit" + (f" (a sample × {ratio:.3g} by FLOPs)" if not same_sides else "")
        out[name] = Calibration(one / speed, shape, shape if exact else measured, flops,
                                one / points[-1][1], how, [(s, t) for s, t, _ in points], conf, threads, busy)
    return out


def _calibrate_cuda(build, shapes: dict, device, end: float) -> dict:
    """Every shape timed as it is: a warm-up call, then the minimum of up to three synchronised
    calls (fewer when the budget is spent)."""
    out, models = {}, {}
    for name, (shape, train) in shapes.items():
        shape = tuple(int(v) for v in shape)
        if shape[1:] not in models:
            models[shape[1:]] = _materialise(build, shape, device)
        step = _step(models[shape[1:]], shape, train, device)
        _timed(step, device)   # warm-up: lazy initialisation, cuDNN autotuning
        times = []
        while len(times) < 3 and (not times or time.perf_counter() + min(times) <= end):
            times.append(_timed(step, device)[0])
        out[name] = Calibration(min(times), shape, shape, None, 1.0, "timed", [(shape, min(times))], "high", 1, 1.0)
    return out


def calibrate(build: Callable, shapes: dict, device, multiple: int = 1, convnet: bool = False,
              threads: int = 1, end: float | None = None, max_flops: float | None = None) -> dict:
    """Time the network `build(shape)` on `device` for each entry of `shapes` (name → (input
    shape, train: bool)) and return {name: Calibration}: seconds of one call on `threads` CPU
    threads (or the CUDA device), as on a quiet machine. A training call is forward + backward +
    an SGD step; a forward runs under no_grad. `convnet`: the network is fully convolutional (its
    cost grows with batch × pixels); otherwise sides are shrunk by FLOPs (`max_flops` a sample).
    `end`: time.perf_counter() by which to be done (default: DEFAULT_BUDGET_S from now). On a CPU
    the calling thread is set to one torch thread while it times (see the module docstring)."""
    import torch

    device = torch.device(device)
    end = time.perf_counter() + DEFAULT_BUDGET_S if end is None else end
    if device.type != "cpu":
        return _calibrate_cuda(build, shapes, device, end)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _warm_up(device)
        if convnet:
            return _calibrate_convnet_cpu(build, shapes, device, multiple, threads, end)
        return _calibrate_flops_cpu(build, shapes, device, multiple, threads, end,
                                    max_flops or CPU_CALIBRATION_FLOPS)
    finally:
        torch.set_num_threads(old)


def calibrate_convnet(build: Callable, shapes: dict, device, multiple: int = 1, **kw) -> dict:
    """`calibrate(..., convnet=True)`."""
    return calibrate(build, shapes, device, multiple, convnet=True, **kw)


def _parameters(build, shapes: dict) -> int:
    """Parameters of the network, counted on meta (0 when it does not build there)."""
    shape = next(iter(shapes.values()))[0]
    model = _build_on_meta(build, tuple(int(v) for v in shape))
    return 0 if model is None else sum(p.numel() for p in model.parameters())


def calibrate_many(jobs: dict, device, threads: int = 1, deadline: float | None = None,
                   workers: int | None = None) -> dict:
    """{key: calibrate(build, shapes, device, multiple, convnet)} for jobs {key: (build, shapes,
    multiple, convnet)}, on a CPU `workers` (default WORKERS, at most the cores) at once. Each job
    gets an equal share of the time left before `deadline` (per worker), worked out when it
    starts, so the time a job does not use goes to the ones after it (shares by parameter count
    starved the U-Nets, whose per-pixel cost is high for their size); the largest start first.
    Returns the jobs in their given order."""
    import torch

    device = torch.device(device)
    keys = list(jobs)
    if not keys:
        return {}
    n = max(1, min(workers or WORKERS, os.cpu_count() or 1, len(keys))) if device.type == "cpu" else 1
    if deadline is None:
        deadline = time.perf_counter() + DEFAULT_BUDGET_S * math.ceil(len(keys) / n)
    # the largest networks first (by parameters, where they build on meta): two workers then end
    # together instead of one timing ViT-H alone at the end
    order = sorted(keys, key=lambda k: -_parameters(jobs[k][0], jobs[k][1])) if n > 1 else keys
    lock, waiting = threading.Lock(), list(order)

    def run(key):
        with lock:
            rounds = math.ceil(len(waiting) / n)
            waiting.remove(key)
            now = time.perf_counter()
            end = now + max(0.0, deadline - now) / rounds
        build, shapes, multiple, convnet = jobs[key]
        return calibrate(build, shapes, device, multiple, convnet, threads=threads, end=end)

    if n == 1:
        return {k: run(k) for k in keys}
    from concurrent.futures import ThreadPoolExecutor

    old = torch.get_num_threads()
    try:
        with ThreadPoolExecutor(n, thread_name_prefix="benchlib-plan") as ex:
            got = dict(zip(order, ex.map(run, order)))
        return {k: got[k] for k in keys}
    finally:
        torch.set_num_threads(old)   # a worker's setting can reach the process-wide default

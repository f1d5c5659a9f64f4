"""`benchlib plan` for the SAM vs SAM 2 chapter: the image set / DAVIS videos (read with the chapter's
loaders), the official checkpoint of every variant it times or scores and whether it loads, and the
time of the encoder timings, the video runs and the click evaluation from a timed forward of each
image encoder (at a reduced resolution on a CPU, scaled by FLOPs)."""
from __future__ import annotations

from benchlib.plan import ChapterPlan, Estimate, RowStatus, WeightCheck, check_data

from . import SPEC
from . import data as D
from . import models as S
from .pipeline import Config

LAYOUT = """<data_root>/images/<id>.jpg|png + <data_root>/masks/<id>.png   an instance-id map per image
<data_root>/JPEGImages/480p/<seq>/00000.jpg … + Annotations/480p/<seq>/00000.png …
     (DAVIS 2017; also under DAVIS/ or davis/; ImageSets/2017/val.txt optional)"""


def _validate(root):
    counts, notes = {}, []
    if D.is_image_set(root):
        s = D.load_image_set(root)
        s[0]   # one image and its mask decoded and checked
        counts["images"] = len(s)
    davis = D.davis_root(root)
    if davis is not None:
        seqs = D.davis_sequences(davis)
        counts["DAVIS sequences"] = len(seqs)
        D.load_davis_sequence(davis, seqs[0], 2)
    notes.append("listed with the chapter's loaders; the first image / the first frames decoded")
    return counts, notes


def _variants(c: Config) -> list[str]:
    return list(dict.fromkeys([*c.latency_variants, *c.quality_variants, c.video_sam, c.video_sam2]))


def _check_checkpoint(c: Config, key: str) -> WeightCheck:
    from benchlib import BenchlibError

    need = f"{S.VARIANTS[key].label} (official {S.CHECKPOINT_FILES[key]}; without it: random weights, no quality rows)"
    try:
        path = S.checkpoint_path(c.checkpoints, key)
    except BenchlibError as e:
        return WeightCheck(f"checkpoints[{key}]", str(c.checkpoints), "invalid", need, str(e))
    if path is None:
        return WeightCheck(f"checkpoints[{key}]", "", "not set", need)
    try:
        model = S.build(key, meta=True) if S.variant(key).family == "SAM" else S.build(key)
        S.load_weights(model, path, key)
    except BenchlibError as e:
        return WeightCheck(f"checkpoints[{key}]", str(path), "invalid", need, str(e))
    return WeightCheck(f"checkpoints[{key}]", str(path), "loads", need, "every key and shape matches")


def check(ctx) -> ChapterPlan:
    c = ctx.config(Config)
    data = check_data("data_root", ctx.data_root, name="image set with masks / DAVIS videos", layout=LAYOUT,
                      find=D.find_real, validate=_validate)
    weights = [_check_checkpoint(c, k) for k in _variants(c)]
    have = {w.parameter[len("checkpoints["):-1] for w in weights if w.status == "loads"}
    rows = [RowStatus("parameter counts", True)]
    rows += [RowStatus(f"encoder time {S.VARIANTS[k].label}", True) for k in c.latency_variants]
    rows += [RowStatus(f"click mIoU {S.VARIANTS[k].label}", k in have, "no checkpoint") for k in c.quality_variants]
    rows += [RowStatus(f"video J&F {S.VARIANTS[k].label}", k in have, "no checkpoint")
             for k in (c.video_sam, c.video_sam2)]
    return ChapterPlan(SPEC.id, data=[data], weights=weights, rows=rows)


def estimate(ctx, plan: ChapterPlan) -> Estimate:
    c = ctx.config(Config)
    n_images = plan.data[0].counts.get("images", c.n_images) if plan.data[0].status == "found" else c.n_images
    res, vres = c.resolution, c.video_resolution
    cal, basis = {}, []
    wanted = {(k, res) for k in c.latency_variants} | {(k, res) for k in c.quality_variants} | \
        {(k, vres) for k in (c.video_sam, c.video_sam2)}
    # meta=True: SAM built on meta, SAM 2 without its (slow) initialisation; the plan fills the values
    jobs = {(key, r): (lambda shape, k=key: S.build(k, image_size=shape[-1], meta=True).image_encoder,
                       {"fwd": ((1, 3, r, r), False)}, 32, False) for key, r in sorted(wanted)}
    for (key, r), got in ctx.calibrate_many(jobs).items():   # the encoders share the chapter's budget
        cal[key, r] = got["fwd"].seconds
        basis.append(f"{S.VARIANTS[key].label} encoder at {r} px: {got['fwd'].seconds:.3g} s ({got['fwd'].describe()})")
    have = {r.row.removeprefix("click mIoU ") for r in plan.rows if r.row.startswith("click mIoU") and r.runs}
    parts = {"encoder timing": sum(cal[k, res] for k in c.latency_variants) * (c.warmup + c.repeats),
             "video": c.video_frames * (cal[c.video_sam, vres] + cal[c.video_sam2, vres]),
             "click evaluation": sum(n_images * cal[k, res] for k in c.quality_variants
                                     if S.VARIANTS[k].label in have)}
    basis.insert(0, f"{len(c.latency_variants)} encoder(s) × {c.warmup + c.repeats} timed runs at {res} px; "
                    f"{c.video_frames} video frames of SAM and SAM 2 at {vres} px; one encoder run per image "
                    "for the click evaluation; prompt decoders and memory modules not counted (small)")
    basis.append(f"on {ctx.device} with {ctx.threads} thread(s)")
    return Estimate(sum(parts.values()), parts, basis)


"""The review's statements about the architectures, checked on the built modules by recording
feature shapes and by perturbation (change one input, see which outputs move)."""
from __future__ import annotations

import inspect
import math

import numpy as np
import pandas as pd

from .measure import strides


def _row(id_, statement, held, evidence):
    return {"id": id_, "statement": statement, "held": held, "evidence": evidence}


def _fpn_row(sam2_model, trunk, st, seed):
    """FPN: change the stride-32 input of the neck and see which outputs move."""
    import torch

    neck = sam2_model.image_encoder.neck
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(s, generator=g) for s in trunk]
    with torch.inference_mode():
        base, _ = neck([x.clone() for x in xs])
        xs2 = [x.clone() for x in xs]
        xs2[3] = torch.randn(xs[3].shape, generator=g)
        pert, _ = neck(xs2)
    moved = [bool((a - b).abs().max() > 0) for a, b in zip(base, pert)]
    return _row("fpn_fuses_16_32", "An FPN fuses the stride-16 and stride-32 features (strides 4 and 8 are not fused)",
                moved == [False, False, True, True],
                f"perturbing the stride-32 input (channels {[s[1] for s in trunk]}) changes the neck outputs at "
                f"strides {[s for s, m in zip(st, moved) if m]} and leaves {[s for s, m in zip(st, moved) if not m]}; "
                f"fpn_top_down_levels={list(neck.fpn_top_down_levels)}; scalp={sam2_model.image_encoder.scalp} "
                f"drops stride 32 from the outputs")


def _high_res_row(sam2_model, predictor, res, seed):
    """High-resolution features reach the mask decoder: perturb them, the mask changes."""
    import torch

    g = torch.Generator().manual_seed(seed + 1)
    c = res / 2
    kw = dict(point_coords=np.array([[c, c]]), point_labels=np.array([1]), multimask_output=False)
    with torch.inference_mode():
        _, _, low_a = predictor.predict(**kw)
        saved = predictor._features["high_res_feats"]
        predictor._features["high_res_feats"] = [f + torch.randn(f.shape, generator=g).to(f) for f in saved]
        try:
            _, _, low_b = predictor.predict(**kw)
        finally:
            predictor._features["high_res_feats"] = saved
    changed = float(np.abs(low_a - low_b).max())
    return _row("high_res_to_decoder",
                "Stride-4 and stride-8 features reach the mask decoder's upsampling (high-resolution skip)",
                bool(sam2_model.use_high_res_features_in_sam and changed > 0),
                f"use_high_res_features_in_sam={sam2_model.use_high_res_features_in_sam}; decoder gets "
                f"{[tuple(f.shape) for f in saved]}; perturbing them changes the mask logits by up to {changed:.3g}")


def architecture_checks(sam2_model, sam2_shapes: dict, predictor, resolution: int, sam_shapes: dict | None = None,
                        sam_label: str = "SAM", video: dict | None = None, seed: int = 0) -> pd.DataFrame:
    """The review's architecture statements, one row each (`held` None when not run).

    sam2_shapes / sam_shapes: the shapes recorded while encoding (`measure.WholeEncoder.shapes`);
    predictor: the SAM 2 image predictor with an image set; video: `video.measure_video`'s result."""
    trunk = sam2_shapes.get("trunk", [])
    st = strides(trunk, resolution)
    rows = [_row("hiera_multiscale", "Hiera produces multi-scale features (strides 4, 8, 16, 32)", st == [4, 8, 16, 32],
                 f"trunk outputs {trunk} at {resolution}² -> strides {st}"),
            _fpn_row(sam2_model, trunk, st, seed),
            _high_res_row(sam2_model, predictor, resolution, seed)]
    statement = "Memory attention uses only the stride-16 features (not strides 4 and 8)"
    if video and video.get("memory_attention_input"):
        shp = video["memory_attention_input"]
        tokens, vres = shp[0], video["resolution"]
        stride = int(round(vres / math.sqrt(tokens)))
        rows.append(_row("memory_attention_stride16", statement, stride == 16,
                         f"memory attention input {shp} (tokens × batch × channels) at {vres}² -> stride {stride}"))
    else:
        rows.append(_row("memory_attention_stride16", statement, None, "no video run"))
    statement = "SAM's ViT works at a single stride, 16"
    if sam_shapes:
        blocks = [v for k, v in sam_shapes.items() if k.startswith("block") or k == "patch embed"]
        sst = sorted({s for b in blocks for s in strides(b, resolution, channels_last=True)})
        out = sam_shapes.get("encoder output", [])
        rows.append(_row("sam_vit_single_stride", statement, sst == [16] and strides(out, resolution) == [16],
                         f"{sam_label}: patch embedding and all {len(blocks) - 1} blocks at strides {sst}; output {out}"))
    else:
        rows.append(_row("sam_vit_single_stride", statement, None, "no SAM ViT timed whole"))
    return pd.DataFrame(rows)


def prompt_inputs(models) -> pd.DataFrame:
    """What the released prompt encoders accept, per built variant (the review says SAM's takes text
    via CLIP): the forward's arguments, whether one of them carries text, and any submodule of the
    whole model whose name or class names text or CLIP. `models`: (key, label, family, model) tuples."""
    rows = []
    for key, label, family, model in models:
        enc = model.prompt_encoder if hasattr(model, "prompt_encoder") else model.sam_prompt_encoder
        args = [a for a in inspect.signature(type(enc).forward).parameters if a != "self"]
        text = [n for n, m in model.named_modules()   # submodules only (n == "": the model itself)
                if n and any(w in f"{n} {type(m).__name__}".lower() for w in ("text", "clip"))]
        rows.append({"variant": key, "model": label, "family": family, "inputs": ", ".join(args),
                     "text_input": any("text" in a.lower() for a in args), "text_modules": ", ".join(text)})
    return pd.DataFrame(rows)

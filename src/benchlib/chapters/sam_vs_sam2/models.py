"""SAM (ViT-B / L / H) and SAM 2.1 (Hiera-T / S / B+ / L), built locally.

Models are built from the packages' own code (`segment_anything`, and `sam2` from the
`rf-sam-2` wheel) with random weights by default, or from checkpoint files the user passes
(the official file names are listed in `CHECKPOINT_FILES`). Nothing is ever fetched from a hub.
Checkpoints are read with `torch.load(weights_only=True)` (`torchutil.load_checkpoint`) and
checked key by key, shape by shape and for non-finite values before loading, so a wrong file
fails with a message that names the file, the variant and what does not match.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path

from benchlib import BenchlibError
from benchlib.torchutil import count_parameters, load_checkpoint


@dataclass(frozen=True)
class Variant:
    key: str
    family: str          # "SAM" or "SAM 2"
    label: str           # the name the published tables use
    checkpoint_file: str  # the official file name
    config: str = ""     # SAM 2: hydra config inside the sam2 package


VARIANTS: dict[str, Variant] = {v.key: v for v in [
    Variant("vit_b", "SAM", "SAM ViT-B", "sam_vit_b_01ec64.pth"),
    Variant("vit_l", "SAM", "SAM ViT-L", "sam_vit_l_0b3195.pth"),
    Variant("vit_h", "SAM", "SAM ViT-H", "sam_vit_h_4b8939.pth"),
    Variant("hiera_t", "SAM 2", "SAM 2.1 Hiera-T", "sam2.1_hiera_tiny.pt", "configs/sam2.1/sam2.1_hiera_t.yaml"),
    Variant("hiera_s", "SAM 2", "SAM 2.1 Hiera-S", "sam2.1_hiera_small.pt", "configs/sam2.1/sam2.1_hiera_s.yaml"),
    Variant("hiera_b+", "SAM 2", "SAM 2.1 Hiera-B+", "sam2.1_hiera_base_plus.pt", "configs/sam2.1/sam2.1_hiera_b+.yaml"),
    Variant("hiera_l", "SAM 2", "SAM 2.1 Hiera-L", "sam2.1_hiera_large.pt", "configs/sam2.1/sam2.1_hiera_l.yaml"),
]}
CHECKPOINT_FILES = {k: v.checkpoint_file for k, v in VARIANTS.items()}

# SAM's ViT image encoders (segment_anything/build_sam.py): width, depth, heads, global-attention blocks.
_VIT = {
    "vit_b": (768, 12, 12, (2, 5, 8, 11)),
    "vit_l": (1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": (1280, 32, 16, (7, 15, 23, 31)),
}


def variant(key: str) -> Variant:
    try:
        return VARIANTS[key]
    except KeyError:
        raise BenchlibError(f"unknown SAM variant {key!r}; choose one of {', '.join(VARIANTS)}") from None


def _build_sam(key: str, image_size: int):
    """SAM with random weights. At 1024 this is `sam_model_registry[key]`; other sizes use the same
    modules with a position embedding sized for the input (only for reduced-resolution timing:
    official checkpoints fit 1024 only). Mirrors segment_anything/build_sam.py::_build_sam."""
    from functools import partial

    import torch
    from segment_anything import sam_model_registry
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    if image_size == 1024:
        return sam_model_registry[key](checkpoint=None)
    if image_size % 16:
        raise BenchlibError(f"SAM image size must be a multiple of 16, got {image_size}")
    dim, depth, heads, global_idx = _VIT[key]
    grid = image_size // 16
    return Sam(
        image_encoder=ImageEncoderViT(
            depth=depth, embed_dim=dim, img_size=image_size, mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=heads, patch_size=16,
            qkv_bias=True, use_rel_pos=True, global_attn_indexes=global_idx, window_size=14, out_chans=256),
        prompt_encoder=PromptEncoder(embed_dim=256, image_embedding_size=(grid, grid),
                                     input_image_size=(image_size, image_size), mask_in_chans=16),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
            transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375],
    )


def _build_sam2(key: str, image_size: int, video: bool):
    """SAM 2.1 with random weights via the package's hydra configs (never its hub helpers)."""
    if image_size % 32:
        raise BenchlibError(f"SAM 2 image size must be a multiple of 32, got {image_size}")
    overrides = [] if image_size == 1024 else [f"++model.image_size={int(image_size)}"]
    with warnings.catch_warnings():  # the package's torch.jit.script use is deprecated, harmless here
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated")
        from sam2.build_sam import build_sam2, build_sam2_video_predictor

        builder = build_sam2_video_predictor if video else build_sam2
        # device="cpu": the package's default is "cuda"; the model is moved afterwards.
        return builder(VARIANTS[key].config, ckpt_path=None, device="cpu", hydra_overrides_extra=overrides)


@contextlib.contextmanager
def _skip_init():
    """torch.nn.init's initialisers as no-ops (parameters keep torch.empty's undefined values)."""
    from unittest import mock

    import torch

    names = ("trunc_normal_", "normal_", "uniform_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
             "xavier_normal_", "zeros_", "ones_", "constant_")
    with contextlib.ExitStack() as stack:
        for name in names:
            stack.enter_context(mock.patch.object(torch.nn.init, name, lambda t, *a, **k: t))
        yield


def build(key: str, checkpoint=None, device="cpu", image_size: int = 1024, video: bool = False,
          meta: bool = False):
    """Build a variant in eval mode.

    checkpoint: path of an official checkpoint file (or None for random weights).
    video: SAM 2 only, the video predictor (memory attention / memory bank in use).
    meta: the structure only, for counting parameters cheaply (the values are undefined, never run
    such a model): SAM on the meta device (no memory, no init); SAM 2 cannot be built on meta
    (Hiera calls `.item()` while building), so it is built on the CPU with the weight initialisers
    skipped (the random init is most of the build's cost: Hiera-L 2.3 s → 0.5 s of CPU here)."""
    import torch

    v = variant(key)
    if video and v.family != "SAM 2":
        raise BenchlibError(f"{key}: only SAM 2 variants have a video predictor")
    if meta:
        if checkpoint is not None:
            raise BenchlibError("meta builds are for counting parameters only (no checkpoint)")
        if v.family == "SAM 2":
            with _skip_init():
                return _build_sam2(key, image_size, video).eval()
        with torch.device("meta"):
            return _build_sam(key, image_size).eval()
    model = _build_sam(key, image_size) if v.family == "SAM" else _build_sam2(key, image_size, video)
    if checkpoint:
        load_weights(model, checkpoint, key)
    return model.to(device).eval()


def state_dict_from_file(path) -> dict:
    """The model state dict in an official file: SAM files hold it directly, SAM 2 files under 'model'."""
    obj = load_checkpoint(path)
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    import torch

    if not isinstance(obj, dict) or not obj or not all(isinstance(t, torch.Tensor) for t in obj.values()):
        raise BenchlibError(f"{path}: not a model state dict (expected a mapping of parameter names "
                            f"to tensors, or such a mapping under 'model')")
    # NaN / inf tensors are refused by load_checkpoint (they would read as a very bad model).
    return obj


def load_weights(model, path, key: str = "") -> None:
    """Load a checkpoint into a built model after checking every key and shape."""
    sd = state_dict_from_file(path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    shapes = [f"{k}: file {tuple(sd[k].shape)} vs model {tuple(expected[k].shape)}"
              for k in expected if k in sd and tuple(sd[k].shape) != tuple(expected[k].shape)]
    problems = []
    for name, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)):
        if items:
            more = f" … (+{len(items) - 5} more)" if len(items) > 5 else ""
            problems.append(f"{len(items)} {name}: {', '.join(items[:5])}{more}")
    if problems:
        what = f"variant {key!r}" if key else type(model).__name__
        hint = f" (the official file for {key} is {CHECKPOINT_FILES[key]})" if key in CHECKPOINT_FILES else ""
        raise BenchlibError(f"{path}: does not match {what}{hint}: " + "; ".join(problems))
    model.load_state_dict(sd, strict=True)


def checkpoint_path(checkpoints, key: str):
    """Where the user's checkpoint for `key` is: `checkpoints` is a folder holding official file
    names, or a dict {variant: path}; None when not given. A named file that does not exist is an
    error (a typo must not silently fall back to random weights)."""
    if not checkpoints:
        return None
    if isinstance(checkpoints, dict):
        p = checkpoints.get(key)
        if not p:
            return None
        p = Path(p).expanduser()
        if not p.is_file():
            raise BenchlibError(f"{p}: checkpoint for {key} not found")
        return p
    folder = Path(checkpoints).expanduser()
    if not folder.is_dir():
        raise BenchlibError(f"{folder}: checkpoint folder not found")
    p = folder / CHECKPOINT_FILES[key]
    return p if p.is_file() else None


# ----------------------------------------------------------------------------- components
def components(model) -> dict:
    """The model's parts as the review names them: image encoder, prompt encoder, mask decoder
    and, for SAM 2, memory attention, memory encoder and the small rest (object-pointer
    projections, learned no-memory / temporal embeddings). The parts partition the parameters."""
    if hasattr(model, "sam_mask_decoder"):  # SAM 2
        parts = {
            "image encoder": [model.image_encoder],
            "prompt encoder": [model.sam_prompt_encoder],
            "mask decoder": [model.sam_mask_decoder],
            "memory attention": [model.memory_attention],
            "memory encoder": [model.memory_encoder, model.mask_downsample],
        }
    else:
        parts = {"image encoder": [model.image_encoder], "prompt encoder": [model.prompt_encoder],
                 "mask decoder": [model.mask_decoder]}
    seen = {id(p) for mods in parts.values() for m in mods for p in m.parameters()}
    rest = [p for p in model.parameters() if id(p) not in seen]
    out = {name: sum(count_parameters(m) for m in mods) for name, mods in parts.items()}
    if hasattr(model, "sam_mask_decoder"):
        out["other (object pointers, embeddings)"] = sum(p.numel() for p in rest)
    elif rest:
        out["other"] = sum(p.numel() for p in rest)
    return out


@contextlib.contextmanager
def inference(device):
    """inference_mode plus bf16 autocast on CUDA (the SAM 2 paper's speed setting)."""
    import torch

    from benchlib.torchutil import autocast

    with torch.inference_mode(), autocast(device):
        yield


def predictor(model):
    """The package's image predictor for a built model (set_image / predict)."""
    if hasattr(model, "sam_mask_decoder"):
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        with warnings.catch_warnings():  # it torch.jit.scripts its transforms (deprecated, harmless)
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated")
            pred = SAM2ImagePredictor(model)
        # The predictor hard-codes the feature sizes of a 1024 input; follow the model's size.
        s = model.image_size
        pred._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
        return pred
    from segment_anything import SamPredictor

    return SamPredictor(model)

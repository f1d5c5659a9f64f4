"""The book's chapters and the papermill parameters of each profile, kept in one place.

A notebook's `parameters` cell holds the `default` values; a profile lists only what it
changes. `profile`, `data_root` and `results_root` are injected into every chapter by the
runner, so they are not repeated here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import BenchlibError


@dataclass(frozen=True)
class Chapter:
    id: str
    title: str
    notebook: str  # file name under notebooks/


# Order = order in the book.
CHAPTERS: dict[str, Chapter] = {
    c.id: c
    for c in [
        # Chapters are uncommented here as they land (tests then require their notebook).
        Chapter("sam_vs_sam2", "From SAM to SAM 2: the comparison table, measured", "sam_vs_sam2.ipynb"),
        Chapter("orandnet_voc", "ORANDNet: precision-aware CAM ensembles on VOC", "orandnet_voc.ipynb"),
        Chapter("satellite_resnet", "Residual encoder-decoder for satellite images", "satellite_resnet.ipynb"),
        Chapter("cosaliency", "Co-saliency detection in a single image", "cosaliency.ipynb"),
        Chapter("forb_retrieval", "FORB: flat object retrieval", "forb_retrieval.ipynb"),
        Chapter("metrics_appendix", "Appendix: how the numbers are computed", "metrics_appendix.ipynb"),
    ]
}

PROFILE_NAMES = ("smoke", "default", "paper")

# Per profile, per chapter: parameter overrides of the notebook's defaults.
PROFILES: dict[str, dict[str, dict]] = {
    "smoke": {
        "sam_vs_sam2": {"param_variants": ["vit_b", "vit_l", "vit_h", "hiera_t"],
                        "latency_variants": ["hiera_t", "vit_b"], "composed_variants": [],
                        "resolution": 256, "warmup": 0, "repeats": 1, "prompt_repeats": 2,
                        "video_frames": 3, "video_resolution": 256, "n_images": 2},
        "orandnet_voc": {"n_train": 60, "n_val": 24, "cls_epochs": 3, "vit_epochs": 3, "cam_scales": [1.0],
                         "orand_epochs": 2, "aff_epochs": 1, "seg_epochs": 3,
                         "scale_schedule": [[8, 1], [4, 2]], "n_boot": 100},
        "satellite_resnet": {"models": ["prop18", "unet19"], "refine_models": ["prop18", "unet19"], "width": 16,
                             "scene_scale": 30.0, "train_size": 160, "tile": 64, "stride": 64, "crop": 32,
                             "max_epochs": 1, "refine_steps": 2, "refine_crop": 32, "n_boot": 200},
        "cosaliency": {"n_images": 40, "n_sdcs": 24, "train_size": 64, "width_div": 16, "epochs": 1,
                       "pretrain_epochs": 1, "ablation": ["U-Net"], "fps_repeats": 1},
        "forb_retrieval": {"n_index": 3, "n_queries": 6, "n_distractors": 6, "image_size": 128,
                           "query_size": 192, "max_features": 100, "vocab_size": 64, "shortlist": 5,
                           "global_size": 32, "scales": [1.0], "ssl_steps": 10, "ssl_batch": 16, "n_boot": 200},
        "metrics_appendix": {"n_random_images": 4},
    },
    "default": {
        "sam_vs_sam2": {},
        "orandnet_voc": {},
        "satellite_resnet": {},
        "cosaliency": {},
        "forb_retrieval": {},
        "metrics_appendix": {},
    },
    "paper": {
        "sam_vs_sam2": {"latency_variants": ["hiera_t", "hiera_s", "hiera_b+", "hiera_l",
                                             "vit_b", "vit_l", "vit_h"],
                        "composed_variants": [], "resolution": 1024, "warmup": 3, "repeats": 10,
                        "prompt_repeats": 20, "compile_encoder": True, "video_frames": 50,
                        "video_resolution": 1024, "video_sam": "vit_h", "video_sam2": "hiera_b+",
                        "quality_variants": ["vit_b", "vit_l", "vit_h", "hiera_t", "hiera_s",
                                             "hiera_b+", "hiera_l"]},
        "orandnet_voc": {"image_size": 320, "n_seeds": 3, "cls_epochs": 15, "vit_epochs": 30,
                         "cam_scales": [1.0, 0.5, 1.5, 2.0], "orand_epochs": 20, "aff_epochs": 10,
                         "seg_epochs": 30, "scale_schedule": [[8, 2], [4, 4], [2, 6]], "torch_threads": 0,
                         "n_boot": 2000},
        "satellite_resnet": {"models": ["unet19", "unet35", "prop18", "prop34", "prop50", "prop101", "prop152",
                                        "prop200"],
                             "refine_models": ["prop152", "unet19"], "n_seeds": 3, "width": 1, "threads": 0,
                             "scene_scale": 1.0, "train_size": 3000, "tile": 364, "stride": 120, "crop": 256,
                             "infer_tile": 512, "infer_stride": 384, "lr": 0.005, "lr_step": 30,
                             "max_epochs": 300, "patience": 5, "refine_lr": 1e-4, "refine_steps": 2000,
                             "refine_crop": 256, "block": 256, "n_boot": 2000},
        # data_root / sdcs_root: the real saliency folders; vgg_weights: an ImageNet VGG-16 state dict
        "cosaliency": {"device": "auto", "width_div": 1, "train_size": 384, "epochs": 30, "lr": 0.0001,
                       "pretrain_epochs": 30, "n_seeds": 3, "fps_repeats": 20,
                       "ablation": ["U-Net", "U-Net + DA", "U-Net + FS", "U-Net + DA + FS",
                                    "U-Net + FS + RFM (offline)", "U-Net + DA + FS + RFM (offline)",
                                    "U-Net + DA + FS + RFM (online)"]},
        # Real FORB via data_root; ImageNet weights only from files the user passes (cnn_weights, vit_weights).
        "forb_retrieval": {"device": "auto", "image_size": 512, "query_size": 512, "max_features": 1000,
                           "vocab_size": 16384, "shortlist": 100, "cnn_arch": "resnet50", "vit_arch": "vit_b_16",
                           "global_size": 224, "ssl_steps": 5000, "ssl_batch": 256, "ssl_size": 96, "n_boot": 2000},
        "metrics_appendix": {},
    },
}


def chapter(chapter_id: str) -> Chapter:
    try:
        return CHAPTERS[chapter_id]
    except KeyError:
        raise BenchlibError(
            f"unknown chapter {chapter_id!r}; known chapters: {', '.join(CHAPTERS)}"
        ) from None


def parameters(profile: str, chapter_id: str) -> dict:
    """The papermill parameters the profile sets for a chapter (without the injected ones)."""
    if profile not in PROFILES:
        raise BenchlibError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILE_NAMES)}")
    return dict(PROFILES[profile].get(chapter_id, {}))


def notebooks_dir() -> Path:
    from .paths import project_root

    return project_root() / "notebooks"

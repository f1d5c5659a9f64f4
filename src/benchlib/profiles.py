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
        # Chapter("sam_vs_sam2", "From SAM to SAM 2: the comparison table, measured", "sam_vs_sam2.ipynb"),
        # Chapter("orandnet_voc", "ORANDNet: precision-aware CAM ensembles on VOC", "orandnet_voc.ipynb"),
        # Chapter("satellite_resnet", "Residual encoder-decoder for satellite images", "satellite_resnet.ipynb"),
        # Chapter("cosaliency", "Co-saliency detection in a single image", "cosaliency.ipynb"),
        # Chapter("forb_retrieval", "FORB: flat object retrieval", "forb_retrieval.ipynb"),
        Chapter("metrics_appendix", "Appendix: how the numbers are computed", "metrics_appendix.ipynb"),
    ]
}

PROFILE_NAMES = ("smoke", "default", "paper")

# Per profile, per chapter: parameter overrides of the notebook's defaults.
PROFILES: dict[str, dict[str, dict]] = {
    "smoke": {
        # "sam_vs_sam2": {},
        # "orandnet_voc": {},
        # "satellite_resnet": {},
        # "cosaliency": {},
        # "forb_retrieval": {},
        "metrics_appendix": {"n_random_images": 4},
    },
    "default": {
        # "sam_vs_sam2": {},
        # "orandnet_voc": {},
        # "satellite_resnet": {},
        # "cosaliency": {},
        # "forb_retrieval": {},
        "metrics_appendix": {},
    },
    "paper": {
        # "sam_vs_sam2": {},
        # "orandnet_voc": {},
        # "satellite_resnet": {},
        # "cosaliency": {},
        # "forb_retrieval": {},
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

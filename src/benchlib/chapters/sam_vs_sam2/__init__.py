"""From SAM to SAM 2: the comparison table, measured — the chapter's spec (its only registration: chapters are discovered)."""
from benchlib.chapters import ChapterSpec

# Per profile: overrides of the notebook's parameters-cell defaults (the `default` profile).
SMOKE = dict(
    param_variants=['vit_b', 'vit_l', 'vit_h', 'hiera_t'], latency_variants=['hiera_t', 'vit_b'],
    composed_variants=[], resolution=256, warmup=0, repeats=1, prompt_repeats=2, video_frames=3,
    video_resolution=256, video_sam2='hiera_t', n_images=2,
    # one cheap native-size call, so smoke runs the native-round code path (1024² is too slow for smoke)
    native_resolution=320, native_variants=['hiera_t'], native_composed=[],
)

PAPER = dict(
    latency_variants=['hiera_t', 'hiera_s', 'hiera_b+', 'hiera_l', 'vit_b', 'vit_l', 'vit_h'],
    composed_variants=[], resolution=1024, warmup=3, repeats=10, prompt_repeats=20,
    native_variants=[], native_composed=[],  # the repeated rounds are already at the native 1024²
    compile_encoder=True, video_frames=50, video_resolution=1024,
    quality_variants=['hiera_t', 'hiera_s', 'hiera_b+', 'hiera_l', 'vit_b', 'vit_l', 'vit_h'],
)

SPEC = ChapterSpec('sam_vs_sam2', 'From SAM to SAM 2: the comparison table, measured', order=10,
                   citation="Sundaresan Geetha & Hussain, From SAM to SAM 2: Exploring Improvements in Meta's Segment Anything Model, arXiv 2024 (review of SAM, 2023, and SAM 2, 2024)",
                   summary="The review's feature table beside measured parameters, interleaved encoder timing, memory and per-frame video cost of the released SAM / SAM 2 variants.",
                   profiles={'smoke': SMOKE, 'paper': PAPER},
                   trains=False)  # it measures released models, trains none

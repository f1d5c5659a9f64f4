"""Co-saliency detection in a single image — the chapter's spec (its only registration: chapters are discovered)."""
from benchlib.chapters import ChapterSpec

# Per profile: overrides of the notebook's parameters-cell defaults (the `default` profile).
SMOKE = dict(
    n_seeds=1, batch_size=8, n_images=40, n_sdcs=24, test_fraction=0.3, train_size=64, epochs=1, ablation=['U-Net'],
    fps_repeats=1, full_width_fps='none', control_images=12, control_epochs=0,
)

PAPER = dict(
    # the paper's U-Net at full resolution (features too large to cache: encoded per batch); the paper
    # gives no train / test split of its 2,019 images: 70 / 30 trains on most of a real dataset
    test_fraction=0.3, device='auto', train_size=384, width=0, out_stride=1, cache_features=False, epochs=30, lr=0.0001,
    batch_size=1, n_seeds=3, fps_repeats=20, full_width_fps='both', checkpoint_every=1,
    ablation=['U-Net', 'U-Net + DA', 'U-Net + FS', 'U-Net + DA + FS', 'U-Net + FS + RFM (offline)', 'U-Net + DA + FS + RFM (offline)', 'U-Net + DA + FS + RFM (online)'],
)

SPEC = ChapterSpec('cosaliency', 'Co-saliency detection in a single image', order=40,
                   citation='Y. Yue, Q. Zou, H. Yu, Q. Wang, Z. Wang, S. Wang: An End-to-End Network for Co-Saliency Detection in One Single Image (arXiv 1910.11819)',
                   summary='F-measure, precision, recall, MAE, ablation and PR curves of co-saliency vs saliency models.',
                   profiles={'smoke': SMOKE, 'paper': PAPER})

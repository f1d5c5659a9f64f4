"""ORANDNet: precision-aware CAM ensembles on VOC — the chapter's spec (its only registration: chapters are discovered)."""
from benchlib.chapters import ChapterSpec

# Per profile: overrides of the notebook's parameters-cell defaults (the `default` profile).
SMOKE = dict(
    n_seeds=1, n_control=30, n_train=60, n_val=24, cls_epochs=3, vit_epochs=3, cam_scales=[1.0],
    orand_epochs=2, aff_epochs=1, seg_epochs=3, scale_schedule=[[8, 1], [4, 2]],
)

PAPER = dict(
    image_size=320, backbones='paper', n_seeds=3, cls_epochs=15, vit_epochs=30,
    cam_scales=[1.0, 0.5, 1.5, 2.0], orand_epochs=20, aff_epochs=10, seg_epochs=30,
    scale_schedule=[[8, 2], [4, 4], [2, 6]], threads=0, checkpoint_every=1,
)

SPEC = ChapterSpec('orandnet_voc', 'ORANDNet: precision-aware CAM ensembles on VOC', order=20,
                   citation='J. Park, H. Shim, "Precision matters: Precision-aware ensemble for weakly supervised semantic segmentation" (ORANDNet), AAAI 2024',
                   summary='Pseudo-mask mIoU / precision / recall of OR / AND ensembles of two CAMs, and the segmentation they train.',
                   profiles={'smoke': SMOKE, 'paper': PAPER})

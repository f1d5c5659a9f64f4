"""Residual encoder-decoder for satellite images — the chapter's spec (its only registration: chapters are discovered)."""
from benchlib.chapters import ChapterSpec

# Per profile: overrides of the notebook's parameters-cell defaults (the `default` profile).
SMOKE = dict(
    n_seeds=1, models=['prop18', 'unet19'], refine_models=['prop18', 'unet19'], width=16,
    scene_scale=30.0, train_size=160, tile=64, stride=64, crop=32, max_epochs=1, refine_steps=2,
    refine_crop=32,
)

PAPER = dict(
    models=['unet19', 'unet35', 'prop18', 'prop34', 'prop50', 'prop101', 'prop152', 'prop200'],
    refine_models=['prop152', 'unet19'], n_seeds=3, width=1, threads=0, scene_scale=1.0,
    train_size=3000, tile=364, stride=120, crop=256, infer_tile=512, infer_stride=384, lr=0.005,
    lr_step=30, max_epochs=300, patience=5, monitor='cost', optimizer='sgd', schedule='step', normalise='train',
    prior_bias=False,
    refine_lr=0.0001, refine_steps=2000,
    refine_crop=256, block=256,
    checkpoint_every=1,
)

SPEC = ChapterSpec('satellite_resnet', 'Residual encoder-decoder for satellite images', order=30,
                   citation='Ghassemi et al., Satellite Image Segmentation with Deep Residual Architectures for Time-Critical Applications, EUSIPCO 2018',
                   summary='Table I counted from the modules, F1 / accuracy across sensors, refinement, timing.',
                   profiles={'smoke': SMOKE, 'paper': PAPER})

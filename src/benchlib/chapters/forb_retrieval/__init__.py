"""FORB: flat object retrieval — the chapter's spec (its only registration: chapters are discovered)."""
from benchlib.chapters import ChapterSpec

# Per profile: overrides of the notebook's parameters-cell defaults (the `default` profile).
SMOKE = dict(
    n_seeds=1, n_index=3, n_queries=6, n_distractors=6, image_size=128, query_size=192,
    max_features=100, vocab_size=64, shortlist=5, global_size=32, scales=[1.0],
    pretrained_scales=[1.0], ssl_steps=10, ssl_batch=16,
)

PAPER = dict(
    device='auto', colour_histogram=False, image_size=512, query_size=512, max_features=1000, vocab_size=16384,
    shortlist=100, cnn_arch='resnet50', vit_arch='vit_b_16', global_size=224, pretrained_size=224,
    ssl_steps=5000, ssl_batch=256, ssl_size=96, checkpoint_every=250,
)

SPEC = ChapterSpec('forb_retrieval', 'FORB: flat object retrieval', order=50,
                   citation='Wu et al., FORB: A Flat Object Retrieval Benchmark for Universal Image Embedding, NeurIPS 2023 Datasets and Benchmarks',
                   summary='mAP@k and t-mAP@k by difficulty and object type, index size, for local and global features.',
                   profiles={'smoke': SMOKE, 'paper': PAPER})

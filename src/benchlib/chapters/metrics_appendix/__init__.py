"""Appendix: how the numbers are computed — the chapter's spec (its only registration: chapters are discovered)."""
from benchlib.chapters import ChapterSpec

# Per profile: overrides of the notebook's parameters-cell defaults (the `default` profile).
SMOKE = dict(
    n_random_images=4,
)

SPEC = ChapterSpec('metrics_appendix', 'Appendix: how the numbers are computed', order=90, kind='appendix',
                   citation='',
                   summary='Worked examples of every metric and of the claims engine.',
                   profiles={'smoke': SMOKE})

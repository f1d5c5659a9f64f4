"""Appendix: how the numbers are computed — the chapter's spec (its only registration: chapters are discovered)."""
from benchlib.chapters import ChapterSpec

SPEC = ChapterSpec(
    id='metrics_appendix',
    title='Appendix: how the numbers are computed',
    order=90,
    citation='',
    summary='Worked examples of every metric and of the claims engine.',
    # Per profile: overrides of the notebook's parameters-cell defaults (the `default` profile).
    profiles={'smoke': {'n_random_images': 4}},
)

"""The template chapter: a learned threshold (logistic regression, trained with torch) against the
majority guess, on `samples.csv` or its seeded twin. The paper is a placeholder: replace SPEC's
title, citation and summary, `paper/` and the claims with the paper's own."""
from benchlib.chapters import ChapterSpec

SPEC = ChapterSpec(
    id="_template",
    title="Template: a threshold beats the majority guess",
    order=80,
    citation="A. Author, A paper worth re-running, Venue 2026",
    summary="A minimal chapter: real-format loader, seeded twin, a tiny torch model, 3 seeds, one claim.",
    # Per profile: overrides of the notebook's parameters-cell defaults (the `default` profile).
    profiles={"smoke": {"n_samples": 60, "n_seeds": 1}, "paper": {"n_samples": 20000, "checkpoint_every": 1}},
)

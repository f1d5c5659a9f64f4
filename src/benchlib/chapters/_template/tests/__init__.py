"""Tests of the template chapter: its loader, scores, claim, check, resumable training, a short run
and its paper tables."""

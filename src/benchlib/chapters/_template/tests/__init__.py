"""Tests of the template chapter: its loader, scores, claim, resumable training and a short run."""

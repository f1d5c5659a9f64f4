"""Fixtures of the template chapter's tests."""
import pytest

import benchlib.chapters._template as chapter


@pytest.fixture
def discovered(monkeypatch):
    """The chapter listed by discovery (`$BENCHLIB_CHAPTERS`) wherever its package lives, so that
    its `paper/` tables are found."""
    monkeypatch.setenv("BENCHLIB_CHAPTERS", chapter.__name__)

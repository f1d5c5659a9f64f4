"""Profile names and the merge rule for a chapter's parameters.

A notebook's `parameters` cell holds the `default` values; a chapter's spec lists, per profile,
only what that profile changes. The runner injects `profile`, `data_root` and `results_root`.
"""
from __future__ import annotations

from . import BenchlibError

PROFILE_NAMES = ("smoke", "default", "paper")


def check_profile(profile: str) -> str:
    if profile not in PROFILE_NAMES:
        raise BenchlibError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILE_NAMES)}")
    return profile


def parameters(profile: str, spec, overrides: dict | None = None) -> dict:
    """Notebook parameters for one chapter run: the profile's overrides, then the user's."""
    check_profile(profile)
    params = spec.parameters(profile)
    params.update(overrides or {})
    return params

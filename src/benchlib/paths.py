"""Where the project, the data and the results live."""
from __future__ import annotations

import os
from pathlib import Path


def _is_root(p: Path) -> bool:
    return (p / "_config.yml").is_file() and (p / "notebooks").is_dir()


def project_root() -> Path:
    """The book's root folder: $BENCHLIB_ROOT, else the nearest folder upwards from the
    working directory that holds `_config.yml` and `notebooks/`, else the source checkout
    this package was installed from (editable install), else the working directory."""
    env = os.environ.get("BENCHLIB_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    cwd = Path.cwd().resolve()
    for p in [cwd, *cwd.parents]:
        if _is_root(p):
            return p
    src_checkout = Path(__file__).resolve().parents[2]
    if _is_root(src_checkout):
        return src_checkout
    return cwd


def default_data_root() -> Path:
    """$BENCHLIB_DATA, else a cache folder outside the repository."""
    env = os.environ.get("BENCHLIB_DATA")
    if env:
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "benchlib" / "data"


def default_results_root() -> Path:
    env = os.environ.get("BENCHLIB_RESULTS")
    if env:
        return Path(env).expanduser().resolve()
    return project_root() / "results"


def library_dir() -> Path:
    return Path(__file__).resolve().parent

"""Execute chapter notebooks with papermill: profiles, caching, parallel processes.

Cache rule, in one sentence: a chapter is re-run only if its notebook, its parameters
(profile values, data root) or any file of the benchlib library changed since its last
successful run, or if its result files are missing.

Each chapter runs in its own process (its own kernel too) and writes into a staging folder;
only when it finishes is the staging folder moved over `results/<profile>/<chapter>/`, so a
crashed run never leaves half a results folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import traceback
import uuid
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from pathlib import Path
from types import SimpleNamespace

from . import BenchlibError
from .paths import default_data_root, default_results_root, library_dir, project_root
from .chapters import ChapterSpec, all_specs
from .profiles import check_profile, parameters
from .results import STAGING_ENV, atomic_write_json, chapter_dir, git_commit, package_versions, read_run

NOTEBOOK_NAME = "{chapter}.ipynb"  # the executed copy, next to the chapter's results


def library_fingerprint() -> str:
    """Hash of every source and data file of the library (paths and contents)."""
    h = hashlib.sha256()
    base = library_dir()
    for p in sorted(base.rglob("*")):
        if p.is_file() and p.suffix in {".py", ".csv", ".json", ".yml", ".yaml"} and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(base)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def cache_key(notebook: Path, params: dict, lib_hash: str) -> str:
    h = hashlib.sha256()
    h.update(Path(notebook).read_bytes())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    h.update(lib_hash.encode())
    return h.hexdigest()[:16]


def resolve_parameters(spec: ChapterSpec, profile: str, data_root, results_root, overrides=None) -> dict:
    params = parameters(profile, spec, overrides)
    params.update({"profile": profile, "data_root": str(data_root), "results_root": str(results_root)})
    return params


def is_cached(out_dir: Path, key: str) -> bool:
    run = read_run(out_dir)
    return bool(run and run.get("status") == "ok" and run.get("cache_key") == key
                and (out_dir / "results.csv").is_file() and (out_dir / NOTEBOOK_NAME.format(chapter=run.get("chapter"))).is_file())


# Per-cell time limit: a hung cell (e.g. a kernel waiting on a widget) fails the chapter
# instead of blocking the whole book. The paper profile's cells may legitimately take hours.
CELL_TIMEOUT_S = {"smoke": 300, "default": 1200, "paper": None}


def execute_chapter(chapter: dict, profile: str, params: dict, key: str, results_root: str,
                    root: str, kernel_name: str | None, threads: int | None, progress: bool,
                    cell_timeout: int | None = None) -> dict:
    """Run one chapter notebook (in a worker process). Never raises: returns a record.
    `chapter`: {"id", "title", "notebook"} (plain data, so any executor can ship it)."""
    chapter = SimpleNamespace(**chapter)
    results_root = Path(results_root)
    final_dir = chapter_dir(profile, chapter.id, results_root)
    staging_root = results_root / ".staging" / uuid.uuid4().hex[:8]
    stage_dir = chapter_dir(profile, chapter.id, staging_root)
    stage_dir.mkdir(parents=True)
    # The notebook's ChapterResults writes into the staging tree (the kernel inherits this
    # variable), while the parameters it shows name the real results folder.
    os.environ[STAGING_ENV] = str(staging_root)
    out_nb = stage_dir / NOTEBOOK_NAME.format(chapter=chapter.id)
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "BENCHLIB_THREADS"):
            os.environ[var] = str(threads)
    # OpenMP threads that spin while waiting made torch 10-20x slower on a busy machine;
    # passive waiting costs nothing when the machine is idle.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["BENCHLIB_ROOT"] = root
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    record = {"chapter": chapter.id, "title": chapter.title, "profile": profile, "cache_key": key,
              "notebook": chapter.notebook, "runner_parameters": params}
    t0 = time.perf_counter()
    try:
        import papermill as pm
        from papermill.exceptions import PapermillExecutionError

        nb_path = Path(chapter.notebook)
        if not nb_path.is_file():
            raise BenchlibError(f"{nb_path}: chapter notebook not found")
        try:
            pm.execute_notebook(str(nb_path), str(out_nb), parameters=params, kernel_name=kernel_name,
                                cwd=str(nb_path.parent), progress_bar=progress, log_output=False,
                                execution_timeout=cell_timeout)
            record.update(status="ok")
        except PapermillExecutionError as e:
            record.update(status="failed", failed_cell=e.cell_index, exec_count=e.exec_count,
                          error=f"{e.ename}: {e.evalue}")
    except Exception as e:  # noqa: BLE001 - a broken chapter must not stop the others
        record.update(status="failed", failed_cell=None,
                      error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=5))
    record["runner_duration_s"] = round(time.perf_counter() - t0, 2)
    if record["status"] == "ok" and not (stage_dir / "results.csv").is_file():
        record.update(status="failed", error="the notebook finished but wrote no results.csv "
                                              "(did it call ChapterResults.save()?)")
    if record["status"] != "ok":
        # A failed run keeps only its executed notebook (for the traceback) and run.json.
        for name in ("results.csv", "claims.csv"):
            (stage_dir / name).unlink(missing_ok=True)
    run = read_run(stage_dir) or {}
    run.update(record)
    run.setdefault("git_commit", git_commit(root))
    run.setdefault("versions", package_versions())
    atomic_write_json(stage_dir / "run.json", run)
    # Swap the finished folder in place of the old one.
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    old = final_dir.with_name(f".old-{final_dir.name}-{uuid.uuid4().hex[:6]}")
    if final_dir.exists():
        final_dir.rename(old)
    stage_dir.rename(final_dir)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging_root, ignore_errors=True)
    return run


def _make_executor(jobs: int, dask_address: str | None) -> Executor:
    if dask_address:
        try:
            from distributed import Client
        except ImportError:
            raise BenchlibError("--dask needs the 'distributed' package: pip install 'benchlib[dask]'") from None
        # Workers must see the same project and results folders (shared filesystem).
        return Client(dask_address).get_executor()
    import multiprocessing as mp

    return ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"))


def run(profile: str = "default", only=None, jobs: int = 1, data_root=None, results_root=None,
        force: bool = False, kernel_name: str | None = None, chapters: list[ChapterSpec] | None = None,
        overrides: dict | None = None, dask_address: str | None = None, cell_timeout: int | None = -1,
        echo=print) -> list[dict]:
    """Run the book's chapters for a profile. Returns one record per chapter (status ok /
    cached / failed). `chapters` replaces the discovered chapters (tests use it)."""
    from tqdm.auto import tqdm

    check_profile(profile)
    root = project_root()
    data_root = Path(data_root).expanduser().resolve() if data_root else default_data_root()
    results_root = Path(results_root).expanduser().resolve() if results_root else default_results_root()
    todo = list(chapters) if chapters is not None else all_specs()
    unknown = sorted(set(overrides or {}) - {c.id for c in todo})
    if unknown:
        raise BenchlibError(f"-p names unknown chapter(s) {', '.join(unknown)}; "
                            f"known: {', '.join(c.id for c in todo)}")
    if only:
        known = {c.id for c in todo}
        unknown = [o for o in only if o not in known]
        if unknown:
            raise BenchlibError(f"unknown chapter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        todo = [c for c in todo if c.id in only]
    if cell_timeout == -1:
        cell_timeout = CELL_TIMEOUT_S.get(profile)
    lib_hash = library_fingerprint()
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    records, pending = [], []
    for c in todo:
        nb = c.notebook_path(root)
        params = resolve_parameters(c, profile, data_root, results_root, (overrides or {}).get(c.id))
        key = cache_key(nb, params, lib_hash) if nb.is_file() else "missing-notebook"
        out_dir = chapter_dir(profile, c.id, results_root)
        if not force and is_cached(out_dir, key):
            rec = dict(read_run(out_dir), status="ok", cached=True)
            echo(f"= {c.id}: unchanged since its last successful run (cache key {key}), skipped")
            records.append(rec)
        else:
            pending.append((c, nb, params, key))
    if pending:
        echo(f"running {len(pending)} chapter(s) on profile '{profile}' with {jobs} job(s); "
             f"data: {data_root}; results: {results_root / profile}")
        with _make_executor(jobs, dask_address) as ex:
            futures = {
                ex.submit(execute_chapter, {"id": c.id, "title": c.title, "notebook": str(nb)}, profile,
                          params, key, str(results_root), str(root), kernel_name, threads,
                          jobs == 1 and sys.stderr.isatty(), cell_timeout): c
                for c, nb, params, key in pending
            }
            bar = tqdm(total=len(futures), desc="chapters", unit="chapter")
            for fut in as_completed(futures):
                c = futures[fut]
                try:
                    rec = fut.result()
                except Exception as e:  # noqa: BLE001 - worker crashed outright
                    rec = {"chapter": c.id, "status": "failed", "error": f"{type(e).__name__}: {e}"}
                records.append(rec)
                bar.update(1)
                if rec["status"] == "ok":
                    bar.write(f"✓ {c.id}: ok in {rec.get('runner_duration_s', 0):.1f} s")
                else:
                    where = f" at cell {rec['failed_cell']}" if rec.get("failed_cell") is not None else ""
                    bar.write(f"✗ {c.id}: FAILED{where}: {rec.get('error')}")
            bar.close()
    order = {c.id: i for i, c in enumerate(todo)}
    records.sort(key=lambda r: order.get(r["chapter"], 0))
    failed = [r["chapter"] for r in records if r["status"] != "ok"]
    echo(f"{len(records) - len(failed)} chapter(s) ok, {len(failed)} failed"
         + (f": {', '.join(failed)}" if failed else ""))
    return records

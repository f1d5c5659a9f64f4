"""The `benchlib` command: `benchlib run` executes chapters, `benchlib book` renders the HTML,
`benchlib plan` shows what a run needs and how long it takes (and gates `run --profile paper`),
`benchlib compare` checks a run against another (e.g. the committed reference), claim by claim,
`benchlib reference` refreshes that reference from a run."""
from __future__ import annotations

import argparse
import json
import sys

from . import BenchlibError
from .plan import CPU_LIMIT_S
from .profiles import PROFILE_NAMES


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="benchlib", description=__doc__)
    p.add_argument("--version", action="store_true", help="print the version and the git commit, then exit")
    sub = p.add_subparsers(dest="command")

    r = sub.add_parser("run", help="execute chapter notebooks with papermill")
    r.add_argument("--profile", choices=PROFILE_NAMES, default="default")
    r.add_argument("--only", nargs="+", metavar="CHAPTER", help="chapters to run (see `benchlib chapters`)")
    r.add_argument("--jobs", type=int, default=0,
                   help="chapters run in parallel processes (default 0: one per CPU core, at most 4)")
    r.add_argument("--data-root", help="datasets folder; must exist (default: $BENCHLIB_DATA or ~/.cache/benchlib/data, "
                                       "where twins are written)")
    r.add_argument("--make-twins", action="store_true",
                   help="allow writing synthetic twins into --data-root (created if missing)")
    r.add_argument("--results-root", help="results folder (default: $BENCHLIB_RESULTS or ./results)")
    r.add_argument("--force", action="store_true", help="re-run even when the cache says unchanged")
    r.add_argument("--base-seed", type=int, default=0, metavar="N",
                   help="add N to every chapter's seed (its profile's or -p's value): a robustness check is "
                        "this run, then `benchlib compare` against the reference")
    r.add_argument("-p", "--param", nargs=3, action="append", default=[], metavar=("CHAPTER", "NAME", "VALUE"),
                   help="override one notebook parameter (VALUE parsed as JSON, else a string)")
    r.add_argument("--kernel", help="Jupyter kernel name (default: the notebook's)")
    r.add_argument("--cell-timeout", type=int, default=-1, metavar="SECONDS",
                   help="fail a chapter whose cell runs longer (default: 300 smoke, 1200 default, none paper; 0 = none)")
    r.add_argument("--dask", metavar="ADDRESS",
                   help="submit chapters to a Dask scheduler (tcp://host:8786), or local[:N] for a LocalCluster")
    r.add_argument("-v", "--verbose", action="store_true", help="stream each chapter's kernel output")
    r.add_argument("--book", action="store_true",
                   help="then render the HTML book (also when a chapter failed: it shows as failed)")
    r.add_argument("--out", help="with --book: output folder (default: _build; the HTML lands in <out>/html)")
    r.add_argument("--allow-twins", action="store_true",
                   help="paper profile: run a chapter whose dataset is missing on a synthetic twin at paper "
                        "size (without it, the run is refused)")
    r.add_argument("--yes", action="store_true",
                   help="paper profile: start even when the plan's estimate exceeds --cpu-limit-hours on a "
                        "machine without a CUDA GPU")
    r.add_argument("--cpu-limit-hours", type=float, default=CPU_LIMIT_S / 3600,
                   help="paper profile on a CPU-only machine: refuse above this estimate (default %(default)g)")

    pl = sub.add_parser("plan", help="what a run needs (data, weights, device) and how long it takes, "
                                     "without training anything")
    pl.add_argument("--profile", choices=PROFILE_NAMES, default="paper", help="(default: paper)")
    pl.add_argument("--only", nargs="+", metavar="CHAPTER", help="chapters to plan")
    pl.add_argument("--data-root", help="datasets folder (default: $BENCHLIB_DATA or ~/.cache/benchlib/data)")
    pl.add_argument("--results-root", help="results folder, where saved training checkpoints are looked for")
    pl.add_argument("-p", "--param", nargs=3, action="append", default=[], metavar=("CHAPTER", "NAME", "VALUE"),
                    help="override one notebook parameter, as for `run`")
    pl.add_argument("--allow-twins", action="store_true", help="plan with synthetic twins for missing datasets")
    pl.add_argument("--json", action="store_true", help="print the plan as JSON (for scripts)")

    b = sub.add_parser("book", help="render the HTML book from executed notebooks (no re-execution)")
    b.add_argument("--profile", choices=PROFILE_NAMES, default="default")
    b.add_argument("--results-root", help="results folder (default: $BENCHLIB_RESULTS or ./results)")
    b.add_argument("--out", help="output folder (default: _build; the HTML lands in <out>/html)")

    c = sub.add_parser("compare", help="check run B against run A (e.g. reference/default), claim by claim "
                                       "and number by number; exit 0 agree, 1 conflicts, 2 bad input",
                       description="RUN_A and RUN_B are results folders of a profile (results/<profile>) or of "
                                   "one chapter. Exit 0: no verdict flips between held and contradicted and no "
                                   "deterministic number differs; 1: some do (each named); 2: bad input.")
    c.add_argument("run_a", metavar="RUN_A", help="the run compared against (its intervals are used)")
    c.add_argument("run_b", metavar="RUN_B", help="the run checked")
    c.add_argument("--only", nargs="+", metavar="CHAPTER", help="chapters to compare")
    c.add_argument("--json", action="store_true", help="print the comparison as JSON (for scripts)")

    rf = sub.add_parser("reference", help="refresh reference/<profile>/ from a run's result files "
                                          "(results.csv, claims.csv, claims_data.npz, run.json; no notebooks)")
    rf.add_argument("--profile", choices=PROFILE_NAMES, default="default")
    rf.add_argument("--only", nargs="+", metavar="CHAPTER", help="chapters to refresh (default: every chapter "
                                                                   "of the run; the others are removed)")
    rf.add_argument("--results-root", help="results folder (default: $BENCHLIB_RESULTS or ./results)")
    rf.add_argument("--reference-root", help="default: <project>/reference")

    sub.add_parser("chapters", help="list the chapters and their profile parameters")

    n = sub.add_parser("new-chapter", help="start a chapter: copy the template into chapters/ID, notebooks/ID.ipynb and tests/chapters/ID/ (every template word renamed)")
    n.add_argument("id", help="the new chapter's id (a Python identifier, e.g. my_paper)")
    n.add_argument("--title", default="", help="the chapter's title")
    return p


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _version() -> str:
    from . import __version__
    from .results import git_commit

    return f"benchlib {__version__} (commit {git_commit() or 'unknown'})"


def _show_chapters() -> None:
    from .chapters import all_specs
    from .runner import INJECTED, notebook_parameters

    for c in all_specs():
        print(f"{c.id}: {c.title}\n    notebook: {c.notebook_path()}")
        params = notebook_parameters(c.notebook_path())
        for name, info in params.items():
            if name in INJECTED:
                continue
            profs = "; ".join(f"{p}={json.dumps(c.parameters(p)[name])}" for p in PROFILE_NAMES
                              if name in c.parameters(p))
            print(f"    {name} = {json.dumps(info['default'])}" + (f"   [{profs}]" if profs else "")
                  + (f"   # {info['help']}" if info["help"] else ""))


def _check_data_root(path, make_twins: bool) -> None:
    from pathlib import Path

    if path is None:
        return
    p = Path(path).expanduser()
    if p.is_dir():
        return
    if not make_twins:
        raise BenchlibError(f"--data-root {path}: no such folder. Point it at your datasets, or pass --make-twins "
                            f"to write synthetic twins there")
    p.mkdir(parents=True)


def _overrides(params) -> dict:
    overrides: dict = {}
    for chapter, name, value in params:
        overrides.setdefault(chapter, {})[name] = _value(value)
    return overrides


def _paper_gate(args, overrides: dict) -> None:
    """`run --profile paper`: print the plan, then refuse (BenchlibError) when a dataset is missing
    (unless --allow-twins), a named file does not load, or the estimate is over the CPU limit on a
    machine without a GPU (unless --yes). Other profiles start as they always did."""
    from .plan import format_plan, make_plan, refusals

    plan = make_plan("paper", only=args.only, data_root=args.data_root, results_root=args.results_root,
                     overrides=overrides, allow_twins=args.allow_twins, estimate="unless-refused")
    print(format_plan(plan), flush=True)
    why = refusals(plan, allow_twins=args.allow_twins, yes=args.yes, cpu_limit_s=args.cpu_limit_hours * 3600)
    if why:
        raise BenchlibError("the paper-profile run was not started:\n  - " + "\n  - ".join(why))


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.version:
        print(_version())
        return 0
    if not args.command:
        _parser().print_help()
        return 2
    try:
        if args.command == "run":
            _check_data_root(args.data_root, args.make_twins)
            from .runner import run

            overrides = _overrides(args.param)
            if args.profile == "paper":
                _paper_gate(args, overrides)
            records = run(profile=args.profile, only=args.only, jobs=args.jobs, data_root=args.data_root,
                          results_root=args.results_root, force=args.force, kernel_name=args.kernel,
                          overrides=overrides, dask_address=args.dask, verbose=args.verbose,
                          cell_timeout=(args.cell_timeout or None) if args.cell_timeout != -1 else -1,
                          base_seed=args.base_seed)
            ok = all(r["status"] == "ok" for r in records)
            if args.book:
                from .book import build

                index = build(profile=args.profile, results_root=args.results_root, out_dir=args.out)
                print(f"book written: {index}")
            return 0 if ok else 1
        if args.command == "book":
            from .book import build

            index = build(profile=args.profile, results_root=args.results_root, out_dir=args.out)
            print(f"book written: {index}")
            return 0
        if args.command == "plan":
            from .plan import format_plan, make_plan, to_json

            plan = make_plan(args.profile, only=args.only, data_root=args.data_root,
                             results_root=args.results_root, overrides=_overrides(args.param),
                             allow_twins=args.allow_twins)
            print(to_json(plan) if args.json else format_plan(plan))
            return 0
        if args.command == "compare":
            from .compare import compare, format_report

            report = compare(args.run_a, args.run_b, only=args.only)
            print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
            return report.exit_code
        if args.command == "reference":
            from .compare import refresh_reference

            for line in refresh_reference(args.profile, results_root=args.results_root,
                                          reference_root=args.reference_root, only=args.only):
                print(line)
            return 0
        if args.command == "chapters":
            _show_chapters()
            return 0
        if args.command == "new-chapter":
            from .chapters.template import new_chapter

            for path in new_chapter(args.id, args.title):
                print(f"wrote {path}")
            return 0
    except BenchlibError as e:
        print(f"benchlib: error: {e}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())

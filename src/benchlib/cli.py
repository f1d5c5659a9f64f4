"""The `benchlib` command: `benchlib run` executes chapters, `benchlib book` renders the HTML."""
from __future__ import annotations

import argparse
import json
import sys

from . import BenchlibError
from .profiles import PROFILE_NAMES


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="benchlib", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="execute chapter notebooks with papermill")
    r.add_argument("--profile", choices=PROFILE_NAMES, default="default")
    r.add_argument("--only", nargs="+", metavar="CHAPTER", help="chapters to run (see `benchlib chapters`)")
    r.add_argument("--jobs", type=int, default=1, help="chapters run in parallel processes")
    r.add_argument("--data-root", help="datasets folder (default: $BENCHLIB_DATA or ~/.cache/benchlib/data)")
    r.add_argument("--results-root", help="results folder (default: $BENCHLIB_RESULTS or ./results)")
    r.add_argument("--force", action="store_true", help="re-run even when the cache says unchanged")
    r.add_argument("-p", "--param", nargs=3, action="append", default=[], metavar=("CHAPTER", "NAME", "VALUE"),
                   help="override one notebook parameter (VALUE parsed as JSON, else a string)")
    r.add_argument("--kernel", help="Jupyter kernel name (default: the notebook's)")
    r.add_argument("--cell-timeout", type=int, default=-1, metavar="SECONDS",
                   help="fail a chapter whose cell runs longer (default: 300 smoke, 1200 default, none paper; 0 = none)")
    r.add_argument("--dask", metavar="ADDRESS", help="submit chapters to a Dask distributed scheduler")
    r.add_argument("--book", action="store_true",
                   help="then render the HTML book (also when a chapter failed: it shows as failed)")
    r.add_argument("--out", help="with --book: output folder (default: _build; the HTML lands in <out>/html)")

    b = sub.add_parser("book", help="render the HTML book from executed notebooks (no re-execution)")
    b.add_argument("--profile", choices=PROFILE_NAMES, default="default")
    b.add_argument("--results-root", help="results folder (default: $BENCHLIB_RESULTS or ./results)")
    b.add_argument("--out", help="output folder (default: _build; the HTML lands in <out>/html)")

    sub.add_parser("chapters", help="list the chapters and their profile parameters")

    n = sub.add_parser("new-chapter", help="start a chapter: copy the template into chapters/ID and notebooks/ID.ipynb")
    n.add_argument("id", help="the new chapter's id (a Python identifier, e.g. my_paper)")
    n.add_argument("--title", default="", help="the chapter's title")
    return p


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            from .runner import run

            overrides: dict = {}
            for chapter, name, value in args.param:
                overrides.setdefault(chapter, {})[name] = _value(value)
            records = run(profile=args.profile, only=args.only, jobs=args.jobs, data_root=args.data_root,
                          results_root=args.results_root, force=args.force, kernel_name=args.kernel,
                          overrides=overrides, dask_address=args.dask,
                          cell_timeout=(args.cell_timeout or None) if args.cell_timeout != -1 else -1)
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
        if args.command == "chapters":
            from .chapters import all_specs

            for c in all_specs():
                print(f"{c.id:20s} {c.title}  ({c.notebook_path()})")
                for prof in PROFILE_NAMES:
                    print(f"    {prof:8s} {c.parameters(prof) or '(notebook defaults)'}")
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

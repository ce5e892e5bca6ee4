"""``python -m grading``: make the student copies, grade submissions, merge results.

    python -m grading generate
    python -m grading nbgrader-source COURSE_DIR             (for instructors who use nbgrader)
    python -m grading grade SUBMISSION_OR_FOLDER [...] [--jobs N | --scheduler ADDRESS] [--out DIR]
    python -m grading grade-one NOTEBOOK --out DIR      (one task of a cluster job)
    python -m grading report DIR                        (gradebook from grade-one results)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from grading import batch, cluster, grade, report
from grading.generate import REPO_ROOT, SOLUTIONS_DIR, generate, write_nbgrader_course
from grading.sandbox import Limits, sandbox_problem

EXIT_BAD_INPUT = 1  # some file could not be graded
EXIT_CANNOT_GRADE = 2  # nothing was graded: no sandbox, no data, bad options, no worker can grade
EXIT_INTERRUPTED = 130  # Ctrl-C: what was graded is kept


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grading", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate", help="write exercises/ from solutions/")
    nbgrader = commands.add_parser("nbgrader-source", help="write an nbgrader course's source/ folder")
    nbgrader.add_argument("course", type=Path, help="the nbgrader course folder")
    for name, help_text in (("grade", "grade submitted notebooks (files or folders)"),
                            ("grade-one", "grade one notebook and write its result (for a cluster task)")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("paths", nargs="+" if name == "grade" else 1, type=Path)
        command.add_argument("--out", type=Path, default=Path("build/grades"), help="output folder (default build/grades)")
        command.add_argument("--data", type=Path, default=None,
                             help="Fashion-MNIST root (default: $FASHION_MNIST_ROOT, else the workbook's data/)")
        command.add_argument("--solutions", type=Path, default=SOLUTIONS_DIR,
                             help="folder of the solution notebooks (default: the workbook's solutions/)")
        command.add_argument("--cell-timeout", type=int, default=Limits.cell_seconds, help="seconds per cell")
        command.add_argument("--notebook-timeout", type=int, default=Limits.notebook_seconds, help="seconds per notebook")
        command.add_argument("--memory-gib", type=float, default=Limits.memory_bytes / 1024**3,
                             help="address space per process in GiB")
        command.add_argument("--no-sandbox", action="store_true",
                             help="run submissions WITHOUT the sandbox (only for code you trust; printed in the report)")
        if name == "grade":
            command.add_argument("--jobs", type=int, default=1,
                                 help="notebooks graded at once on this machine (default 1)")
            where = command.add_mutually_exclusive_group()
            where.add_argument("--scheduler", help="grade on the Dask cluster at this address (tcp://HOST:8786)")
            where.add_argument("--scheduler-file", help="grade on the Dask cluster this scheduler file names")
    merge = commands.add_parser("report", help="write the gradebook from the results under a folder")
    merge.add_argument("out", type=Path)
    merge.add_argument("--solutions", type=Path, default=SOLUTIONS_DIR,
                       help="folder of the solution notebooks, for the model answers (default: the workbook's solutions/)")
    return parser


def _on_cluster(args) -> bool:
    return bool(getattr(args, "scheduler", None) or getattr(args, "scheduler_file", None))


def _settings(args) -> grade.Settings | str:
    """The grading settings, or why grading cannot start (on a cluster, each worker checks instead)."""
    from utils import data

    root = args.data or Path(os.environ.get("FASHION_MNIST_ROOT") or data.DEFAULT_ROOT)
    if _on_cluster(args):
        return _settings_of(args, root)
    try:
        data.verify(root)
    except data.DataError as error:
        return (f"grading needs the real Fashion-MNIST (it never grades on the offline stand-in): {error}\n"
                "Pass --data ROOT or set FASHION_MNIST_ROOT.")
    if not args.no_sandbox:
        problem = sandbox_problem()
        if problem:
            return f"cannot grade: no sandbox: {problem}"
    return _settings_of(args, root)


def _settings_of(args, root: Path) -> grade.Settings:
    limits = Limits(cell_seconds=args.cell_timeout, notebook_seconds=args.notebook_timeout,
                    memory_bytes=int(args.memory_gib * 1024**3))
    return grade.Settings(data_root=root.resolve(), solutions_dir=args.solutions.resolve(), limits=limits,
                          sandbox=not args.no_sandbox)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "generate":
        for path in generate():
            print(f"wrote {path.relative_to(REPO_ROOT)}")
        return 0
    if args.command == "nbgrader-source":
        for path in write_nbgrader_course(args.course):
            print(f"wrote {path}")
        return 0
    if args.command == "report":
        results = report.read_results(args.out)
        for path in report.write_all(args.out, results, grade.model_answers(args.solutions)):
            print(f"wrote {path}")
        return EXIT_BAD_INPUT if any(r["error"] for r in results) else 0
    settings = _settings(args)
    if isinstance(settings, str):
        print(settings, file=sys.stderr)
        return EXIT_CANNOT_GRADE
    if not settings.sandbox:
        print("WARNING: --no-sandbox: submissions run with your rights, unconfined. Only for code you trust.")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.command == "grade-one":
        result = batch.grade_and_write(args.paths[0], settings, args.out)
        print(report.line(result))
        return EXIT_BAD_INPUT if result["error"] else 0
    try:
        results = batch.grade_all(args.paths, settings, args.out, jobs=args.jobs, scheduler=args.scheduler,
                                  scheduler_file=args.scheduler_file)
    except cluster.CannotGrade as error:
        print(f"cannot grade: {error}", file=sys.stderr)
        return EXIT_CANNOT_GRADE
    except KeyboardInterrupt:
        print(f"\ninterrupted: the results so far are under {args.out / 'results'}; "
              "run the same command again to grade the rest", file=sys.stderr)
        return EXIT_INTERRUPTED
    written = report.write_all(args.out, results, grade.model_answers(settings.solutions_dir))
    bad = sum(1 for r in results if r["error"])
    print(f"\n{len(results)} notebooks, {bad} could not be graded"
          + ("; graded WITHOUT the sandbox" if not settings.sandbox else "; each ran in the sandbox") + ".")
    print("Wrote " + ", ".join(str(path) for path in written) + f" and feedback under {args.out / 'feedback'}")
    return EXIT_BAD_INPUT if bad else 0


if __name__ == "__main__":
    sys.exit(main())

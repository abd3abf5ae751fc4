"""``belonging trial-report``: the evaluator's report from one command.

::

    belonging trial-report --template [--out design.yaml]
    belonging trial-report --data pupils.csv --design design.yaml --out report/

:func:`register` adds the subcommand to the main parser in :mod:`belonging_lib.cli`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def _cmd(args) -> int:
    from .._errors import DataError
    from ._design_file import design_template

    if args.template:
        target = Path(args.out or "design.yaml")
        if target.is_dir():
            target = target / "design.yaml"
        if target.exists():
            raise DataError(
                f"{str(target)!r} already exists; nothing a user has written is overwritten "
                "(name another file with --out)."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(design_template(), encoding="utf-8")
        print(f"Blank design file written to {target}: fill it in before the outcome data are unblinded.")
        return 0
    if not (args.data and args.design and args.out):
        raise DataError("trial-report needs --data, --design and --out (or --template to write a blank design file).")
    from ..io import read_data
    from ._design_file import read_design
    from .trial_report import refuse_repository, trial_report

    refuse_repository(args.out)  # before reading any pupil data
    design = read_design(args.design)
    if not Path(args.data).is_file():
        raise DataError(f"The trial data file {args.data!r} does not exist.")
    data = read_data(args.data, ids=[design.cluster])  # school IDs stay text
    rep = trial_report(data, design=design, out=args.out, progress=None)
    print(f"Trial report: {rep.html} and {rep.docx}")
    print(f"Security rating of the primary outcome: {rep.rating.padlocks} of 5 padlocks ({rep.rating.words}).")
    return 0


def register(sub) -> None:
    """Add ``trial-report`` to the ``belonging`` command's subparsers."""
    p = sub.add_parser(
        "trial-report",
        help="an EEF-style trial report (HTML and .docx) with the padlock rating",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", help="pupil file (.csv, .xlsx): one row per randomised pupil, lost pupils included")
    p.add_argument("--design", help="the design file (design.yaml) written before unblinding")
    p.add_argument(
        "--out",
        help="folder for the report (outside any git working tree); with --template, "
        "the file to write (default design.yaml)",
    )
    p.add_argument("--template", action="store_true", help="write a commented blank design file")
    p.set_defaults(func=_cmd)

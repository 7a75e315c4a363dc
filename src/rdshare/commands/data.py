"""``rdshare data``: check evidence files and show the table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rdshare.commands._common import add_data_options, excluded_ids

SHOW_COLUMNS = ("id", "lab", "year", "position", "scope", "unit", "kind", "provenance", "programme")


def register(sub, formatter) -> None:
    p = sub.add_parser(
        "data",
        help="check evidence CSV files, or show the evidence table",
        formatter_class=formatter,
        description="Check evidence CSV files against the schema, or show the table the model fits.",
        epilog="examples:\n  rdshare data show\n  rdshare data check my-rows.csv\n"
        "  rdshare data show --data my-rows.csv\n\nThe schema is in docs/data.md.",
    )
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    dsub.required = True

    c = dsub.add_parser(
        "check",
        help="validate CSV files; exit 0 if clean, 2 with every problem listed",
        formatter_class=formatter,
        description="Validate evidence CSV files. Every problem in every file is listed with its "
        "file, line and column (the first 50, and a count of the rest, when there are more); the "
        "exit code is 0 when clean and 2 otherwise.",
        epilog="examples:\n  rdshare data check my-rows.csv\n"
        "  rdshare data check --with-shipped my-rows.csv   # also check ids against the shipped rows\n"
        "  rdshare data check                              # the shipped rows themselves",
    )
    c.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="CSV files to check (none: the evidence shipped with rdshare)",
    )
    c.add_argument(
        "--with-shipped",
        action="store_true",
        help="check the files together with the shipped rows, as --data would use them",
    )
    c.set_defaults(func=run_check)

    s = dsub.add_parser(
        "show",
        help="print the evidence table with the share each row implies",
        formatter_class=formatter,
        description="Print the evidence rows (shipped, plus --data files) with the value each implies "
        "on its target's scale: a share f, a contrast ratio, or a discount d.",
        epilog="example:\n  rdshare data show\n  rdshare data show --data my-rows.csv --sources",
    )
    add_data_options(s)
    s.add_argument("--sources", action="store_true", help="also print each row's source and note")
    s.add_argument("--csv", action="store_true", help="print CSV instead of an aligned table")
    s.set_defaults(func=run_show)


def run_check(args: argparse.Namespace) -> int:
    from rdshare.core import dataset

    paths = [Path(f) for f in args.files]
    # no file: the shipped rows; --with-shipped: the files together with them
    ds = dataset.load(paths) if args.with_shipped or not paths else dataset.read(paths)
    n_fit = len(ds.fitted)
    print(
        f"ok: {len(ds)} rows in {len(ds.files)} file(s) ({n_fit} fitted, {len(ds) - n_fit} excluded)"
    )
    return 0


def show_table(ds):
    import pandas as pd

    from rdshare.core import dataset

    t = ds.table
    implied = dataset.implied_share(t)
    out = pd.concat([t[list(SHOW_COLUMNS)], implied.drop(columns=["implied_f", "reading"])], axis=1)
    out["programme"] = [p or rid for p, rid in zip(t["programme"], t["id"], strict=True)]
    out["implied"] = out["implied"].round(3)
    out["interval"] = [
        "" if pd.isna(lo) else f"{lo:.2f}-{hi:.2f}" if not pd.isna(hi) else f">= {lo:.2f}"
        for lo, hi in zip(out.pop("implied_low"), out.pop("implied_high"), strict=True)
    ]
    out["fitted"] = ["yes" if e == "" else "no" for e in t["exclude"]]
    return out


def run_show(args: argparse.Namespace) -> int:
    import pandas as pd

    from rdshare.core import dataset

    ds = dataset.load(args.data, replace=args.replace_data, exclude=excluded_ids(args))
    out = show_table(ds)
    if args.sources:
        out["source"] = ds.table["source"]
        out["note"] = ds.table["note"]
    if args.csv:
        out.to_csv(sys.stdout, index=False)
        return 0
    with pd.option_context(
        "display.width", 250, "display.max_colwidth", 60, "display.max_rows", 500
    ):
        print(out.to_string(index=False))
    n_fit = len(ds.fitted)
    print(f"\n{len(ds)} rows ({n_fit} fitted); files: " + ", ".join(str(f) for f in ds.files))
    for rid, reason in zip(ds.table["id"], ds.table["exclude"], strict=True):
        if reason:
            print(f"not fitted: {rid}: {reason}")
    return 0

"""``rdshare priors``: check a prior file and show its quantiles."""

from __future__ import annotations

import argparse


def register(sub, formatter) -> None:
    p = sub.add_parser(
        "priors",
        help="check a prior file, or show each prior's 5/50/95%% quantiles",
        formatter_class=formatter,
        description="Validate a prior file (TOML) or show its priors with their quantiles.",
        epilog="examples:\n  rdshare priors show\n  rdshare priors show skeptical\n"
        "  rdshare priors check my-priors.toml\n\nThe format is in docs/priors.md and in the header "
        "of priors/default.toml.",
    )
    psub = p.add_subparsers(dest="priors_command", metavar="ACTION")
    psub.required = True
    c = psub.add_parser(
        "check",
        help="validate a prior file; exit 0 if clean, 2 with every problem listed",
        formatter_class=formatter,
        description="Validate prior files: known distributions, possible parameters, every model "
        "parameter present, rationale and source given.",
        epilog="example:\n  rdshare priors check my-priors.toml",
    )
    c.add_argument("files", nargs="+", metavar="FILE")
    c.set_defaults(func=run_check)
    s = psub.add_parser(
        "show",
        help="print each prior with its 5/50/95%% quantiles",
        formatter_class=formatter,
        description="Print each prior: distribution, parameters, 5/50/95%% quantiles, rationale.",
        epilog="example:\n  rdshare priors show priors/epoch-2024.toml",
    )
    s.add_argument(
        "file",
        nargs="?",
        default=None,
        metavar="FILE",
        help="prior file or shipped name (default: default)",
    )
    s.add_argument("--rationale", action="store_true", help="also print each rationale and source")
    s.set_defaults(func=run_show)


def run_check(args: argparse.Namespace) -> int:
    from rdshare.commands._common import resolve_priors
    from rdshare.core import priors
    from rdshare.errors import InputError

    problems = []
    for f in args.files:
        try:
            ps = priors.load(resolve_priors(f))
        except InputError as exc:
            problems += exc.problems
        else:
            print(f"ok: {f}: {len(ps.priors)} priors")
    if problems:
        raise InputError(problems)
    return 0


def prior_table(ps):
    import pandas as pd

    from rdshare.core.priors import PARAMETERS

    rows = []
    for p in ps:
        q = p.quantiles()
        rows.append(
            {
                "parameter": p.name,
                "distribution": p.describe(),
                "q05": q[0],
                "q50": q[1],
                "q95": q[2],
                "elicited from": ""
                if p.interval is None
                else f"{p.mass:.0%} in [{p.interval[0]:g}, {p.interval[1]:g}]",
                "meaning": PARAMETERS[p.name][1],
            }
        )
    return pd.DataFrame(rows)


def run_show(args: argparse.Namespace) -> int:
    import pandas as pd

    from rdshare.commands._common import resolve_priors
    from rdshare.core import priors

    ps = priors.load(resolve_priors(args.file))
    print(f"{ps.path}" + (f": {ps.meta['description']}" if "description" in ps.meta else ""))
    if "use_when" in ps.meta:
        print(f"Use when: {ps.meta['use_when']}")
    print()
    with pd.option_context(
        "display.width", 250, "display.max_colwidth", 90, "display.float_format", "{:.3g}".format
    ):
        print(prior_table(ps).to_string(index=False))
    if args.rationale:
        for p in ps:
            print(
                f"\n{p.name}: {p.describe()}\n  rationale: {' '.join(p.rationale.split())}\n  source: {p.source}"
            )
    return 0

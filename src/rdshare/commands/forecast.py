"""``rdshare forecast``: scenario outputs from a run, as files other forecasting tools read."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rdshare.commands._common import (
    positive_int,
    posterior_draws,
    run_seed,
    seed_int,
    warn_if_unconverged,
)

#: Files every forecast folder holds (plus ``metaculus/<name>.json`` per ``--metaculus``).
FORECAST_FILES = (
    "forecast.csv",
    "samples.xlsx",
    "samples.csv",
    "squiggle.txt",
    "scenario.json",
)

#: Scenario options, their input keys and what they mean on the command line.
SCENARIO_OPTIONS = {
    "budget": "one lab's total development budget working alone (R&D plus final run), in --unit",
    "final_run": "one lab's final training run(s), in --unit (instead of --budget)",
    "labs": "number of labs N in the ecosystem or consortium (a fixed whole number; default 1)",
    "leaders": "how many of the N labs lead the open frontier by --lead-months (default 0)",
    "fork_rate": "share of would-be-published work kept in internal-only forks (default 0)",
    "lead_months": "months a closed lab is ahead of the open frontier (default 0)",
    "shared_fraction": "share of each lab's R&D a consortium builds once for all "
    "(default '0.3 to 0.7', a judgement)",
    "halflife_months": "half-life in months of open work's value to a lab ahead "
    "(default '2 to 12', a judgement)",
    "budget_growth": "yearly growth factor of the budget, for --years and --generations "
    "(default '2.0 to 2.9': Cottier et al. 2024)",
    "carryover": "share of what open work saved in one generation still useful in the next "
    "(default '0.2 to 0.8', a judgement)",
    "generation_months": "months between model generations (default '6 to 18', a judgement)",
}

#: Options that shape the scenario's outputs rather than its inputs; allowed with --scenario too.
SETTING_OPTIONS = {
    "years": "per-year outputs for these years, e.g. 2026..2030 (overrides the scenario's)",
    "budget_year": "the year the budget or final run is for (default 2025)",
    "generations": "savings over this many model generations, compounding (default 0: none)",
}

RANGE_RULE = """\
numbers and ranges:
  Every scenario input is a number (5, 2.5e9, 0.2) or a range "LOW to HIGH" (or "LOW..HIGH"),
  read as a 90% interval: 90% sure the value lies between LOW and HIGH, so LOW and HIGH are the
  5% and 95% quantiles of the distribution it becomes:
    amounts (--budget, --final-run, --halflife-months)  lognormal; LOW > 0
    shares (--fork-rate, --shared-fraction)             beta; 0 < LOW < HIGH < 1 (fixed 0 or 1 ok)
    months (--lead-months)                              uniform, stretched so 5%/95% sit at
                                                        LOW/HIGH; any part below 0 is set to 0
    --labs                                              a fixed whole number, never a range
  Uncertain inputs are sampled once per posterior draw with --seed and paired with the draws.
  Quote ranges in the shell: --budget "2e9 to 6e9". --years takes whole years: 2026..2030.

output folder:
  Without --out the forecast goes into RUN_DIR/forecast/, or RUN_DIR/forecast-2/, -3/ ... when
  that exists: earlier forecasts are never overwritten (--force replaces RUN_DIR/forecast/
  instead). With --out DIR an existing DIR is refused unless --force. The folder is written
  whole or not at all.

files:
  forecast.csv      one row per quantity: name, unit, mean, q01, q05, q10, q25, q50, q75, q90,
                    q95, q99, then prior_q05, prior_q50, prior_q95 (the same quantity from the
                    priors alone) and width_ratio (posterior 90% width / prior's: near 1, the
                    data added little)
  samples.xlsx      --samples seeded rows of joint draws, one column per quantity, as number
                    cells: open this one in a spreadsheet (reads the same in every locale)
  samples.csv       the same draws as text with '.' decimals, for scripts (a comma-decimal
                    spreadsheet misreads it)
  squiggle.txt      for each quantity (or those --squiggle names) a parametric Squiggle fit
                    (with its fit error) and a SampleSet of 1000 joint draws (Squiggle's default
                    sample count, so sets pair draw by draw)
  metaculus/NAME.json  a 201-point CDF meeting Metaculus' rules, one per --metaculus group
                    (NAME_YEAR gives one per year: savings_2026.json ... savings_2030.json)
  years.csv         with --years: one row per year and quantity (year, quantity, unit, quantiles,
                    prior's 90% interval, width ratio)
  fan.png           with --years: the fan of R&D and savings over the years
  compounding.png   with --generations: each generation's discount and the cumulative savings
  scenario.json     the scenario inputs as read, how each was interpreted, which comparisons an
                    input rather than the data decides, the seed and the run
  manifest.json     command, versions, seed and the sha256 of every file above

quantities (names used by every file and by --metaculus):
  f_frontier, f_follower, discount, rd_share, rd_compute, discount_effective, savings,
  ecosystem_savings, consortium_savings, discount_lead, savings_lead_lab (see docs/scenarios.md);
  with --years also budget_YEAR, rd_share_YEAR, rd_compute_YEAR, savings_YEAR,
  ecosystem_savings_YEAR, consortium_savings_YEAR, savings_lead_lab_YEAR for each year; with
  --generations K also discount_generation_k, rd_compute_generation_k, savings_generation_k,
  savings_generations and savings_generations_without_compounding.
  f_frontier and f_follower are a typical lab's shares of FLOP; rd_share is this lab's share (a new
  lab: the spread between labs included) in --unit, the one the amounts use. The discount may be
  negative (open work costing a follower more than it saves); then the savings are costs.
"""

EXAMPLES = """\
examples:
  rdshare forecast outputs/RUN --scenario essay-claims
  rdshare forecast outputs/RUN --scenario my-scenario.toml --out forecasts/mine
  rdshare forecast outputs/RUN --budget "2e9 to 6e9" --labs 5 --fork-rate 0.2 --unit dollars
  rdshare forecast outputs/RUN --scenario essay-claims --years 2026..2030 \\
      --metaculus savings_2028 --range 1e8 1e11 --log-scale \\
      --metaculus rd_compute_YEAR --range 1e9 1e13 --log-scale   # one CDF per year
  rdshare forecast outputs/RUN --scenario essay-claims --squiggle savings_2030,rd_compute_2030
  rdshare forecast outputs/RUN --scenario essay-claims \\
      --metaculus f_frontier --range 0 1 --closed-lower --closed-upper \\
      --metaculus savings --range 1e7 1e10 --log-scale

shipped scenarios: essay-claims, consortium, small-open-lab (src/rdshare/data/scenarios/)
"""


class _MetaculusAction(argparse.Action):
    """``--metaculus NAME`` starts a group; later ``--range`` and flags apply to the last group."""

    def __call__(self, parser, namespace, values, option_string=None):
        groups = list(namespace.metaculus or [])
        groups.append({"name": values, "range": None, "log_scale": False})
        groups[-1].update(closed_lower=False, closed_upper=False)
        namespace.metaculus = groups


class _GroupOption(argparse.Action):
    """An option that belongs to the preceding ``--metaculus NAME``."""

    def __init__(self, option_strings, dest, key, **kwargs):
        self.key = key
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        groups = namespace.metaculus or []
        if not groups:
            parser.error(f"{option_string} must follow --metaculus NAME")
        groups[-1][self.key] = True if self.nargs == 0 else values


def register(sub, formatter) -> None:
    p = sub.add_parser(
        "forecast",
        help="scenario savings from a run, as forecast.csv, samples, Squiggle and Metaculus CDFs",
        formatter_class=formatter,
        description=(
            "Combine a run's posterior draws of f and d with a scenario (a lab's budget or final "
            "run, N labs, fork rate, lead) and write the results, draw by draw, in the formats "
            "forecasters paste elsewhere. Give the scenario as a TOML file or a shipped scenario's "
            "name with --scenario, or inline with --budget/--final-run and the options below "
            "(docs/scenarios.md has the schema and the formulas). Prints the forecast table and "
            "the folder written."
        ),
        epilog=RANGE_RULE + "\n" + EXAMPLES,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by 'rdshare fit'")
    p.add_argument(
        "--scenario",
        metavar="FILE_OR_NAME",
        default=None,
        help="scenario TOML file, or a shipped scenario's name (essay-claims, consortium, "
        "small-open-lab); not with the inline options below",
    )
    inline = p.add_argument_group("inline scenario (instead of --scenario)")
    for key, text in SCENARIO_OPTIONS.items():
        inline.add_argument(
            "--" + key.replace("_", "-"),
            dest=key,
            metavar="X or 'LOW to HIGH'" if key != "labs" else "N",
            default=None,
            help=text,
        )
    inline.add_argument(
        "--unit",
        default=None,
        help="unit of --budget / --final-run and of every amount: gpu_hours, flop, dollars or "
        "energy_mwh (default dollars)",
    )
    when = p.add_argument_group("years and generations (with --scenario or inline)")
    for key, text in SETTING_OPTIONS.items():
        when.add_argument(
            "--" + key.replace("_", "-"),
            dest=key,
            metavar="YEARS" if key == "years" else "N",
            default=None,
            help=text,
        )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="folder to write (default RUN_DIR/forecast, or forecast-2, -3 ... if taken)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.add_argument(
        "--seed",
        type=seed_int,
        default=None,
        help="seed for scenario inputs and thinning (default: the run's seed)",
    )
    p.add_argument(
        "--squiggle",
        metavar="NAME,NAME",
        default=None,
        help="only these quantities in squiggle.txt (NAME_YEAR: that quantity for every year; "
        "default: all; Squiggle reads about two quantities' 1000 draws a second, so 60 take "
        "about 30 s)",
    )
    p.add_argument(
        "--samples",
        type=positive_int,
        default=1000,
        help="rows of samples.xlsx and samples.csv (all draws when the run has fewer)",
    )
    meta = p.add_argument_group(
        "Metaculus CDFs (repeatable groups: --metaculus NAME --range LOW HIGH [flags])"
    )
    meta.add_argument(
        "--metaculus",
        metavar="NAME",
        action=_MetaculusAction,
        default=[],
        help="write metaculus/NAME.json for quantity NAME (NAME_YEAR: one file per year of "
        "--years, e.g. savings_YEAR); the options after it apply to it",
    )
    meta.add_argument(
        "--range",
        nargs=2,
        metavar=("LOW", "HIGH"),
        action=_GroupOption,
        key="range",
        dest="_range",
        help="the question's range (required for each --metaculus)",
    )
    for flag, key, text in (
        ("--log-scale", "log_scale", "geometric grid (the question is log-scaled; LOW > 0)"),
        ("--closed-lower", "closed_lower", "the lower bound is closed (no mass below LOW)"),
        ("--closed-upper", "closed_upper", "the upper bound is closed (no mass above HIGH)"),
    ):
        meta.add_argument(
            flag,
            nargs=0,
            action=_GroupOption,
            key=key,
            dest="_" + key,
            default=argparse.SUPPRESS,
            help=text,
        )
    p.set_defaults(func=run)


# ------------------------------------------------------------------------------------------------


def _problem(message: str, field: str):
    from rdshare.errors import Problem

    return Problem("<command line>", message, field=field)


def build_scenario(args: argparse.Namespace):
    """The scenario from --scenario (file or shipped name) or from the inline options."""
    from rdshare.core import scenario as sc
    from rdshare.errors import InputError

    inline = {k: getattr(args, k) for k in SCENARIO_OPTIONS if getattr(args, k) is not None}
    settings = {k: getattr(args, k) for k in SETTING_OPTIONS if getattr(args, k, None) is not None}
    if args.scenario is not None:
        extra = [sc.option_name(k) for k in inline] + (["--unit"] if args.unit is not None else [])
        if extra:
            raise InputError(
                _problem(
                    f"give --scenario or inline options, not both (also given: {', '.join(extra)})",
                    "--scenario",
                )
            )
        path = Path(args.scenario)
        shipped = sc.shipped_scenarios()
        if not path.exists() and "/" not in args.scenario and args.scenario in shipped:
            path = shipped[args.scenario]
        elif not path.exists():
            names = ", ".join(shipped)
            raise InputError(
                _problem(
                    f"{args.scenario!r} is neither a file nor a shipped scenario ({names})",
                    "--scenario",
                )
            )
        return sc.with_settings(sc.load_scenario(path), **settings)
    if "budget" not in inline and "final_run" not in inline:
        raise InputError(
            _problem(
                "give a scenario: --scenario FILE_OR_NAME, or --budget (or --final-run) with "
                "the other inline options",
                "--scenario",
            )
        )
    return sc.scenario_from_options(**inline, **settings, unit=args.unit or "dollars")


def _per_year(name: str, scenario) -> list[str]:
    """``NAME_YEAR`` stands for ``NAME_<year>`` for each year of the forecast; other names for themselves."""
    if name.endswith("_YEAR") and scenario.years:
        return [f"{name[:-5]}_{y}" for y in scenario.years]
    return [name]


def _unknown_quantity(name: str, known: list[str], scenario, option: str):
    """The problem for a quantity name the forecast does not produce, with a hint for year names."""
    hint = ""
    if (name.rsplit("_", 1)[-1].isdigit() or name.endswith("_YEAR")) and not scenario.years:
        hint = " (per-year quantities need --years)"
    return _problem(f"unknown quantity {name!r}{hint}; choose from: {', '.join(known)}", option)


def check_metaculus(groups: list[dict], scenario) -> list[dict]:
    """Validate --metaculus groups: known names, a --range each, numeric bounds, no repeats.

    ``--metaculus NAME_YEAR`` gives one group per year of the forecast, each with the group's range
    and flags."""
    import math

    from rdshare.core.scenario import output_names
    from rdshare.errors import InputError

    known = output_names(scenario)
    problems = []
    seen = set()
    out = []
    expanded = [{**g, "name": name} for g in groups for name in _per_year(g["name"], scenario)]
    for g in expanded:
        name = g["name"]
        if name not in known:
            problems.append(_unknown_quantity(name, known, scenario, "--metaculus"))
            continue
        if name in seen:
            problems.append(_problem(f"{name!r} is given more than once", "--metaculus"))
            continue
        seen.add(name)
        if g["range"] is None:
            problems.append(_problem(f"--metaculus {name} needs --range LOW HIGH", "--range"))
            continue
        try:
            low, high = (float(x) for x in g["range"])
        except ValueError:
            problems.append(
                _problem(f"for {name}: {' '.join(g['range'])!r} are not two numbers", "--range")
            )
            continue
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            problems.append(
                _problem(f"for {name}: need finite LOW < HIGH, got {low:g} {high:g}", "--range")
            )
            continue
        if g["log_scale"] and low <= 0:
            problems.append(
                _problem(f"for {name}: --log-scale needs LOW > 0, got {low:g}", "--range")
            )
            continue
        out.append({**g, "low": low, "high": high})
    if problems:
        raise InputError(problems)
    return out


def check_squiggle(value: str | None, scenario) -> list[str] | None:
    """The quantities --squiggle names (comma-separated; NAME_YEAR for every year), or None for all;
    unknown names exit 2."""
    from rdshare.core.scenario import output_names
    from rdshare.errors import InputError

    if value is None:
        return None
    given = [n.strip() for n in value.split(",") if n.strip()]
    if not given:
        raise InputError([_problem("no quantity named", "--squiggle")])
    known = output_names(scenario)
    names = [name for g in given for name in _per_year(g, scenario)]
    problems = [
        _unknown_quantity(n, known, scenario, "--squiggle") for n in names if n not in known
    ]
    if problems:
        raise InputError(problems)
    return list(dict.fromkeys(names))


def output_folder(run_dir: Path, out: str | None, force: bool) -> Path:
    """Where to write: --out as given, else the first free RUN_DIR/forecast[-k] (see --help)."""
    if out is not None:
        return Path(out)
    base = run_dir / "forecast"
    if force or not base.exists():
        return base
    k = 2
    while (run_dir / f"forecast-{k}").exists():
        k += 1
    return run_dir / f"forecast-{k}"


def scenario_draws(run, params: dict, scenario) -> tuple[dict, list[str]]:
    """The draws :func:`rdshare.core.scenario.evaluate` needs, with notes.

    Model variants without a discount have ``d = 0`` and ``f_follower = f_frontier``.
    """
    import numpy as np

    from rdshare.core.scenario import required_draws

    notes = []
    out = dict(params)
    f = params["f_frontier"]
    if "discount" not in params:
        notes.append("this run's model has no discount: d = 0 and f_follower = f_frontier")
        out["discount"] = np.zeros_like(f)
    if "f_follower" not in params:
        out["f_follower"] = f
    absent = [k for k in ("sigma_lab", "sigma_programme", "beta_era") if k not in params]
    if absent:  # the pooled variant: one f for every lab, no era trend
        notes.append(f"this run's model has no {', '.join(absent)}: taken as 0")
        for k in absent:
            out[k] = np.zeros_like(f)
    missing = [n for n in required_draws(scenario) if n not in out]
    if missing:
        from rdshare.errors import Problem, RunFolderError

        raise RunFolderError(
            Problem(
                str(run.folder / "posterior.nc"),
                f"has no draws of {', '.join(missing)}, which this scenario's unit needs: refit "
                "with this version of rdshare",
            )
        )
    return out, notes


def years_table(table, scenario):
    """The per-year rows of the forecast table, long: year, quantity, then the table's columns."""
    import pandas as pd

    from rdshare.core.scenario import YEARLY

    rows = []
    for year in scenario.years:
        for q in YEARLY:
            r = table.loc[table["name"] == f"{q}_{year}"].iloc[0].to_dict()
            r.pop("name")
            rows.append({"year": year, "quantity": q, **r})
    return pd.DataFrame(rows)


def _plots(folder: Path, scenario, outputs, prior_outputs) -> None:
    """fan.png (with years) and compounding.png (with generations), at the report's size."""
    if not (scenario.years or scenario.generations):
        return
    from rdshare.report import scenario_plots
    from rdshare.report.plots import DPI

    if scenario.years:
        fig = scenario_plots.fan(outputs, scenario, prior_outputs)
        fig.savefig(folder / "fan.png", dpi=DPI, metadata={"Software": None})
    if scenario.generations:
        fig = scenario_plots.compounding(outputs, scenario)
        fig.savefig(folder / "compounding.png", dpi=DPI, metadata={"Software": None})


def format_table(table) -> str:
    """The forecast table for the terminal: name, unit, mean and 5/25/50/75/95% quantiles, and (when the
    table has it) "vs prior", the posterior's 90% width over the prior's: near 1, that quantity's interval
    is the priors' assumption rather than the evidence."""

    def num(x: float) -> str:
        if abs(x) < 10:
            return f"{x:.3f}"
        if abs(x) < 1e5:
            return f"{x:.0f}"
        mant, exp = f"{x:.2e}".split("e")
        return f"{mant}e{int(exp)}"

    cols = ("mean", "q05", "q25", "q50", "q75", "q95")
    ratio = "width_ratio" in table.columns
    rows = [("name", "unit", *cols, *(("vs prior",) if ratio else ()))]
    for _, r in table.iterrows():
        extra = (f"{r['width_ratio']:.2f}",) if ratio else ()
        rows.append((r["name"], r["unit"], *(num(r[c]) for c in cols), *extra))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        left = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        right = [v.rjust(w) for v, w in zip(row[2:], widths[2:], strict=True)]
        lines.append("  " + "  ".join(left + right))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from rdshare.core import exports, runs
    from rdshare.core import scenario as sc

    # every input is checked before the run is read and before anything is written
    scenario = build_scenario(args)
    groups = check_metaculus(args.metaculus, scenario)
    squiggle_names = check_squiggle(args.squiggle, scenario)

    from rdshare.inference.results import load_run

    run_ = load_run(args.run_dir)
    warn_if_unconverged(run_)
    folder = output_folder(Path(args.run_dir), args.out, args.force)
    if folder.exists() and not args.force:
        from rdshare.errors import RunExistsError

        raise RunExistsError(f"{folder} already exists; choose another --out or pass --force")

    seed = run_seed(run_, args.seed)
    s_inputs, s_samples, s_squiggle = np.random.SeedSequence(seed).spawn(3)
    names = sc.required_draws(scenario)
    params = posterior_draws(run_, names, required=("f_frontier",))
    draws, notes = scenario_draws(run_, params, scenario)
    for note in notes:
        print(f"rdshare: note: {note}", file=sys.stderr)
    outputs, sampled = sc.evaluate_with_inputs(scenario, draws, np.random.default_rng(s_inputs))
    prior_outputs = None
    if "prior" in run_.tree.children:  # what the priors alone imply, with the same inputs
        prior_params = posterior_draws(run_, names, group="prior")
        if "f_frontier" in prior_params:
            prior_draws, _ = scenario_draws(run_, prior_params, scenario)
            prior_outputs = sc.evaluate(scenario, prior_draws, np.random.default_rng(s_inputs))
    table = exports.quantile_table(outputs, prior_outputs)
    decided = sc.decisions(outputs, sampled, prior_outputs)
    n = draws["f_frontier"].size
    manifest_files = run_.manifest.get("files", {})
    header = (
        f"run {run_.folder.resolve().name} (posterior.nc sha256 "
        f"{str(manifest_files.get('posterior.nc', ''))[:12]}), scenario {scenario.name}, "
        f"seed {seed}, {n} draws"
    )

    source_text = None
    if scenario.source != sc.CMDLINE:
        source_text = Path(scenario.source).read_text(encoding="utf-8-sig")

    written = []

    def write(tmp: Path) -> None:
        exports.write_forecast_csv(table, tmp / "forecast.csv")
        if scenario.years:
            years_table(table, scenario).to_csv(
                tmp / "years.csv", index=False, float_format="%.10g", lineterminator="\n"
            )
        _plots(tmp, scenario, outputs, prior_outputs)
        frame = exports.samples_frame(outputs, n=args.samples, rng=np.random.default_rng(s_samples))
        exports.write_samples_csv(frame, tmp / "samples.csv")
        exports.write_samples_xlsx(frame, tmp / "samples.xlsx")
        chosen = outputs if squiggle_names is None else {n: outputs[n] for n in squiggle_names}
        text = exports.squiggle_text(chosen, rng=np.random.default_rng(s_squiggle), header=header)
        exports.write_squiggle(tmp / "squiggle.txt", text)
        if groups:
            (tmp / "metaculus").mkdir()
        for g in groups:
            values = outputs[g["name"]].values
            cdf = exports.metaculus_cdf(
                values,
                g["low"],
                g["high"],
                log_scale=g["log_scale"],
                open_lower=not g["closed_lower"],
                open_upper=not g["closed_upper"],
            )
            exports.write_metaculus_json(
                tmp / "metaculus" / f"{g['name']}.json",
                g["name"],
                cdf,
                g["low"],
                g["high"],
                log_scale=g["log_scale"],
                open_lower=not g["closed_lower"],
                open_upper=not g["closed_upper"],
            )
            below = float(np.mean(values < g["low"]))
            above = float(np.mean(values > g["high"]))
            written.append((g["name"], below, above))
        runs.write_json(
            tmp / "scenario.json",
            {
                "scenario": scenario.to_dict(),
                "source": scenario.source,
                "source_sha256": scenario.sha256,
                "source_text": source_text,
                "interpreted_as": scenario.describe(),
                "seed": seed,
                "draws": n,
                "samples": len(frame),
                "run": {
                    "folder": str(run_.folder.resolve()),
                    "id": run_.folder.resolve().name,
                    "posterior_sha256": manifest_files.get("posterior.nc"),
                    "seed": run_.manifest.get("seed"),
                    "converged": run_.converged,
                },
                "decisions": [
                    {
                        "statement": dc.statement,
                        "probability": dc.probability,
                        "prior_probability": dc.prior_probability,
                        "decided_by": dc.decided_by,
                        "by_input": dc.by_input,
                        "input_share": dc.input_share,
                        "influence": dc.influence,
                    }
                    for dc in decided
                ],
                "metaculus": [
                    {
                        "name": g["name"],
                        "lower_bound": g["low"],
                        "upper_bound": g["high"],
                        "log_scale": g["log_scale"],
                        "open_lower_bound": not g["closed_lower"],
                        "open_upper_bound": not g["closed_upper"],
                    }
                    for g in groups
                ],
                "notes": notes,
            },
        )

    runs.write_folder(
        folder,
        write,
        kind="forecast",
        force=args.force,
        command=args.command_line,
        seed=seed,
    )

    print(f"scenario {scenario.name} ({scenario.unit.label}), {n} draws, seed {seed}")
    for key, reading in scenario.describe().items():
        print(f"  {key:<16} {reading}")
    print()
    print(format_table(table))
    print()
    if decided:
        print("comparisons (what decides each):")
        for dc in decided:
            print(f"  {dc.describe()}")
        print()
    for name, below, above in written:
        msg = f"metaculus/{name}.json"
        if below + above > 0:
            msg += f": {below:.1%} of draws below the range, {above:.1%} above"
        print(msg)
    print(f"forecast folder: {folder}")
    return 0

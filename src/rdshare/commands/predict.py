"""``rdshare predict``: the R&D share f of a new, unseen lab with given covariates, from a run."""

from __future__ import annotations

import argparse
import json

from rdshare.commands._common import posterior_draws, run_seed, seed_int, warn_if_unconverged

LAB_HELP = (
    "the lab's covariates as key=value pairs separated by commas: "
    "position=leader|follower (default leader; 'frontier' means leader), "
    "scope=full|pretraining|posttraining (default full), "
    "year=YYYY (default 2025), "
    "unit=gpu_hours|flop|energy|dollars (default: share of compute; dollars and energy add the "
    "model's unit offset)"
)


def register(sub, formatter) -> None:
    p = sub.add_parser(
        "predict",
        help="the R&D share f of a new, unseen lab with given covariates",
        formatter_class=formatter,
        description=(
            "Posterior predictive of f, the R&D share of development compute, for a new lab the "
            "data never saw, from a fitted run. Each posterior draw gets a fresh lab effect "
            "u ~ Normal(0, sigma_lab), so the interval includes the spread between labs (it is the "
            "interval for one particular new lab, not for the average lab). The unit offset is "
            "added only for unit=dollars or unit=energy. Prints the mean and the 5/25/50/75/95% "
            "quantiles; --json prints them as one JSON object with keys mean, q05, q25, q50, q75, "
            "q95. A run that did not pass the convergence gate gives a warning on stderr."
        ),
        epilog=(
            "examples:\n"
            "  rdshare predict outputs/RUN --lab position=follower,scope=pretraining,year=2022\n"
            "  rdshare predict outputs/RUN --lab year=2024,unit=dollars --json\n"
            "  rdshare predict outputs/RUN                 a new frontier lab, full pipeline, 2025\n"
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by 'rdshare fit'")
    p.add_argument("--lab", metavar="KEY=VALUE,...", default=None, help=LAB_HELP)
    p.add_argument(
        "--json",
        action="store_true",
        help="print only one JSON object with keys mean, q05, q25, q50, q75, q95",
    )
    p.add_argument(
        "--seed",
        type=seed_int,
        default=None,
        help="seed of the new lab's random effects (default: the run's seed)",
    )
    p.set_defaults(func=run)


def format_summary(summary: dict) -> str:
    """Mean and quantiles, one per line."""
    labels = {
        "mean": "mean",
        "q05": "5%",
        "q25": "25%",
        "q50": "50% (median)",
        "q75": "75%",
        "q95": "95%",
    }
    return "\n".join(f"  {labels[k]:<13} {v:.3f}" for k, v in summary.items())


def run(args: argparse.Namespace) -> int:
    from rdshare.core.predict import PARAMETERS, parse_lab, predict_new_lab

    lab = parse_lab(args.lab)  # bad --lab fails before the run is read

    from rdshare.inference.results import load_run

    run_ = load_run(args.run_dir)
    warn_if_unconverged(run_)
    params = posterior_draws(run_, PARAMETERS, required=("f_frontier",))
    seed = run_seed(run_, args.seed)
    pred = predict_new_lab(params, lab, seed)
    summary = pred.summary()
    if args.json:
        print(json.dumps(summary))
        return 0
    if "sigma_lab" not in params:
        note = "this run's model has no lab effects, so no between-lab spread"
    else:
        note = "between-lab spread included"
    print(f"new, unseen lab: {lab.describe()}")
    print(
        f"posterior predictive of f, the R&D share of development compute ({note}; "
        f"{pred.draws.size} draws, seed {seed}):"
    )
    print(format_summary(summary))
    print(f"run: {run_.folder}")
    return 0

"""``rdshare offshelf``: self-host an open-weight model, or pay a closed API? For one user's volume."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rdshare.commands._common import outputs_root, positive_int, seed_int

EPILOG = """\
numbers and ranges:
  Every amount is a number or a range "LOW to HIGH", read as a 90% interval (lognormal for
  positive amounts, beta for --efficiency, uniform for --train-tokens and --overhead, which may
  be 0). Token volumes are in millions a month: --tokens-out 50 is 50 million output tokens.

what is compared (US dollars a month; docs/scenarios.md has every formula):
  closed API     T_in p_in + T_out p_out (+ fine-tuning at the closed provider's price); a model of
                 the --closed tier drawn from the price file, one per draw
  open, hosted   the same with a provider's prices for the --open model
  self-hosted    max(GPU-hours for the work, one replica all month) x GPU price + overhead
                 (+ fine-tuning at a provider's managed price); the work at the published
                 saturation throughput times --efficiency
  Defaults for --gpu-price and --throughput come from the price files (the range of the listed
  values); --efficiency, --prefill-speedup and --overhead are judgements, uncertain by default.

price files (src/rdshare/data/prices/, or --prices DIR with the same four files):
  api_prices.csv, gpu_prices.csv, throughput.csv, finetune_prices.csv: each row with its source,
  date and whether it was verified against a stored copy; every problem is reported with its
  file, line and column (exit 2).

files written (to --out, default outputs/offshelf-<time>):
  offshelf.csv    one row per quantity: costs, GPU-hours, break-even volume (quantiles)
  costs.png       cost a month against volume for each option, the user's volume marked
  offshelf.json   the inputs as read, the price rows used, the probabilities, the seed
  manifest.json   command, versions, seed and the sha256 of every file above

examples:
  rdshare offshelf --tokens-out 50
  rdshare offshelf --tokens-out "200 to 800" --tokens-in 1000 --train-tokens 20 --closed frontier
  rdshare offshelf --tokens-out 5000 --gpu-kind reserved --efficiency 0.6 --out /tmp/offshelf
"""

_OPTIONS = {
    "tokens_out": "million output tokens a month (required)",
    "tokens_in": "million input tokens a month (default: 3 x --tokens-out)",
    "train_tokens": "million fine-tuning tokens a month (default 0)",
    "gpu_price": "US dollars per GPU-hour (default: the price file's range for --gpu, --gpu-kind)",
    "throughput": "output tokens a second per GPU at saturation (default: the file's range)",
    "efficiency": "share of the saturation throughput real traffic achieves (default 0.3 to 0.8)",
    "prefill_speedup": "how much faster input tokens are read than output written (default 3 to 8)",
    "overhead": "US dollars a month of engineering and operations (default 500 to 2000)",
}


def register(sub, formatter) -> None:
    p = sub.add_parser(
        "offshelf",
        help="self-hosting an open model against a closed API, from cited prices",
        formatter_class=formatter,
        description=(
            "For a user with a given monthly token volume and amount of fine-tuning: the monthly "
            "cost of a closed model's API, of an open-weight model hosted by a provider, and of "
            "self-hosting it on rented GPUs, from cited public prices with their uncertainty. "
            "Prints the probability that each open option is cheaper than the closed API and the "
            "break-even volume at which self-hosting starts to pay. Needs no fitted run."
        ),
        epilog=EPILOG,
    )
    for key, text in _OPTIONS.items():
        p.add_argument(
            "--" + key.replace("_", "-"), dest=key, metavar="X or 'LOW to HIGH'", help=text
        )
    p.add_argument(
        "--open", default="llama-3.3-70b", help="the open-weight model (price files' id)"
    )
    p.add_argument("--closed", default="mid", help="tier of the closed API: frontier, mid or small")
    p.add_argument("--gpu", default="H100", help="accelerator to self-host on")
    p.add_argument("--gpu-kind", default="on_demand", help="rental: on_demand, reserved or spot")
    p.add_argument("--prices", metavar="DIR", default=None, help="folder of your own price files")
    p.add_argument("--draws", type=positive_int, default=4000, help="draws of the uncertain inputs")
    p.add_argument("--seed", type=seed_int, default=20260512, help="random seed")
    p.add_argument("--out", metavar="DIR", default=None, help="folder to write")
    p.add_argument("--force", action="store_true", help="replace an existing --out folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from rdshare.core import exports, runs
    from rdshare.core import offshelf as oc

    prices = oc.load_prices(args.prices)
    question = oc.build_question(
        prices,
        open_model=args.open,
        closed_tier=args.closed,
        gpu=args.gpu,
        gpu_kind=args.gpu_kind,
        **{k: getattr(args, k) for k in _OPTIONS},
    )
    folder = (
        Path(args.out)
        if args.out is not None
        else outputs_root() / time.strftime("offshelf-%Y%m%d-%H%M%S", time.gmtime())
    )
    runs.check_target(folder, force=args.force)
    s_eval, s_curve = np.random.SeedSequence(args.seed).spawn(2)
    answer = oc.evaluate(question, args.draws, np.random.default_rng(s_eval))
    costs = {k: v for k, v in answer.outputs.items() if k != "break_even_tokens_out"}
    table = _with_break_even(exports.quantile_table(costs), answer.outputs["break_even_tokens_out"])
    volumes = np.geomspace(0.1, 1e5, 61)
    curves = oc.cost_curves(question, volumes, args.draws, np.random.default_rng(s_curve))
    user = float(np.median(answer.outputs["cost_closed_api"].values))
    volume = float(question.inputs["tokens_out"].quantiles([0.5])[0])
    be = answer.outputs["break_even_tokens_out"].values
    finite = be[np.isfinite(be)]
    be_q = np.quantile(finite, [0.05, 0.5, 0.95]) if finite.size else None

    def write(tmp: Path) -> None:
        exports.write_forecast_csv(table, tmp / "offshelf.csv")
        from rdshare.report import scenario_plots
        from rdshare.report.plots import DPI

        fig = scenario_plots.offshelf_costs(curves, volumes, volume, be_q, question)
        fig.savefig(tmp / "costs.png", dpi=DPI, metadata={"Software": None})
        runs.write_json(
            tmp / "offshelf.json",
            {
                "inputs": {k: u.to_record() for k, u in question.inputs.items()},
                "interpreted_as": question.describe(),
                "notes": question.notes,
                "open_model": question.open_model,
                "closed_tier": question.closed_tier,
                "gpu": question.gpu,
                "gpu_kind": question.gpu_kind,
                "gpus_per_replica": question.gpus_per_replica,
                "rows_used": {
                    "closed": [_row(r) for r in question.closed],
                    "hosted": [_row(r) for r in question.hosted],
                },
                "price_files": {
                    k: {"path": v, "sha256": runs.sha256_file(Path(v))}
                    for k, v in prices.files.items()
                },
                "p_self_hosted_cheaper": answer.p_self_hosted_cheaper,
                "p_open_hosted_cheaper": answer.p_hosted_cheaper,
                "p_never_breaks_even": answer.p_never_breaks_even,
                "draws": args.draws,
                "seed": args.seed,
            },
        )

    runs.write_folder(
        folder,
        write,
        kind="offshelf",
        force=args.force,
        command=args.command_line,
        seed=args.seed,
    )
    print(
        f"off the shelf: {question.open_model} against a closed {question.closed_tier}-tier API, "
        f"{args.draws} draws, seed {args.seed}"
    )
    for key, reading in question.describe().items():
        print(f"  {key:<16} {reading}")
    for note in question.notes:
        print(f"  ({note})")
    print()
    by_name = table.set_index("name")
    for key in ("cost_closed_api", "cost_open_hosted", "cost_self_hosted"):
        q = by_name.loc[key, ["q05", "q50", "q95"]].to_numpy(dtype=float)
        print(
            f"  {key:<18} median ${q[1]:,.0f} a month (90% interval ${q[0]:,.0f} to ${q[2]:,.0f})"
        )
    print()
    print(f"  P(self-hosting is cheaper than the closed API) = {answer.p_self_hosted_cheaper:.2f}")
    if question.hosted:
        print(
            f"  P(hosted open weights are cheaper than the closed API) = {answer.p_hosted_cheaper:.2f}"
        )
    if be_q is not None:
        print(
            f"  self-hosting pays from about {be_q[1]:,.0f} million output tokens a month "
            f"(90% interval {be_q[0]:,.0f} to {be_q[2]:,.0f}); in {answer.p_never_breaks_even:.0%} "
            "of draws it never does"
        )
    else:
        print("  self-hosting never costs less than the closed API, at any volume")
    print(f"  (the user's volume: {volume:,.0f} million output tokens; closed API ${user:,.0f})")
    print()
    print(f"folder: {folder}")
    return 0


def _with_break_even(table, out):
    """The break-even row: infinite in the draws where self-hosting never pays, so its quantiles are
    read off the sorted draws (no interpolation across infinity) and may be ``inf``."""
    import numpy as np
    import pandas as pd

    from rdshare.core.exports import QUANTILES

    v = np.asarray(out.values, dtype=float)
    row = {"name": "break_even_tokens_out", "unit": out.unit, "mean": float(np.mean(v))}
    for col, p in QUANTILES.items():
        row[col] = float(np.quantile(v, p, method="inverted_cdf"))
    return pd.concat([table, pd.DataFrame([row])], ignore_index=True)


def _row(r: dict) -> dict:
    return {k: v for k, v in r.items() if not k.startswith("_")}

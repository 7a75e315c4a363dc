"""What a report is built from: a fresh fit or a saved run folder, normalised to :class:`ReportInputs`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class ReportInputs:
    """What a report is built from, whether it comes from a fresh fit or a saved run folder."""

    name: str
    tree: object
    summary: pd.DataFrame
    diagnostics: dict
    dataset: object
    priors: object
    config: dict
    provenance: dict = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        return bool(self.diagnostics.get("converged"))

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))


def _run_name(folder: Path) -> str:
    """The run's name; a staging folder ``.tmp-NAME-PID`` (see ``core.runs``) gives NAME."""
    name = Path(folder).name
    if name.startswith(".tmp-") and name.rsplit("-", 1)[-1].isdigit():
        return name[len(".tmp-") :].rsplit("-", 1)[0]
    return name


def collect(run_or_result, folder: Path | None = None) -> ReportInputs:
    """Normalise a :class:`FitResult` or a :class:`Run` into :class:`ReportInputs`."""
    tree = run_or_result.tree
    attrs = dict(tree.attrs)
    if hasattr(run_or_result, "manifest"):  # a saved Run
        run = run_or_result
        man = run.manifest
        inputs = man.get("inputs", {})
        prov = {
            "command": " ".join(map(str, man.get("command", []))),
            "seed": man.get("seed"),
            "versions": man.get("versions", {}),
            "data_files": inputs.get("data_files", []),
            "data_sha256": inputs.get("data_sha256", ""),
            "priors_file": inputs.get("priors_file", ""),
            "priors_sha256": inputs.get("priors_sha256", ""),
            "file_sha256": man.get("files", {}),
            "timings_seconds": man.get("timings_seconds", {}),
        }
        return ReportInputs(
            name=Path(run.folder).name,
            tree=tree,
            summary=run.summary,
            diagnostics=run.diagnostics,
            dataset=run.dataset,
            priors=run.priors,
            config=dict(run.config),
            provenance=prov,
        )
    res = run_or_result
    try:
        vers = json.loads(attrs.get("rdshare_versions", "{}"))
    except (TypeError, ValueError):
        vers = {}
    prov = {
        "command": "",
        "seed": res.config.get("seed"),
        "versions": vers,
        "data_files": [str(p) for p in res.dataset.files],
        "data_sha256": res.dataset.sha256,
        "priors_file": str(res.priors.path),
        "priors_sha256": res.priors.sha256,
        "file_sha256": {},
        "timings_seconds": {k: round(v, 3) for k, v in getattr(res, "timings", {}).items()},
    }
    return ReportInputs(
        name=_run_name(folder) if folder is not None else "run",
        tree=tree,
        summary=res.summary,
        diagnostics=res.verdict.to_dict(),
        dataset=res.dataset,
        priors=res.priors,
        config=dict(res.config),
        provenance=prov,
    )

"""The run report: plots, ``report.html`` (self-contained) and ``report.md``, built from a fit or a saved run.

Public functions
----------------
:func:`build_report`
    ``build_report(run_or_result, folder)`` writes ``report.html``, ``report.md`` and ``plots/*.png``
    into ``folder`` from a :class:`~rdshare.inference.results.FitResult` or a loaded
    :class:`~rdshare.inference.results.Run`. Nothing is refitted.
:func:`write_report_into`
    ``write_report_into(folder, res)``: the same, with the argument order of a ``save_run`` extra
    writer (``rdshare fit`` passes it).
:func:`data_taught`
    The "what the data taught" comparison of prior and posterior for each headline quantity.

Modules: :mod:`.inputs` (a fit or a saved run, normalised), :mod:`.taught` (prior against posterior),
:mod:`.sections` (the report's sections), :mod:`.build` (plots and files), :mod:`.plots` (one function
per plot), :mod:`.render` (HTML and Markdown), :mod:`.validation` (sensitivity and comparison
sections), :mod:`.sbc_plots` (calibration plots).

The report's sections, in order: headline, convergence, what the data taught, the plots (each with a
how-to-read caption), example scenarios, any ``extra_sections`` (the hook for sensitivity and model
comparison), the summary table, the dataset with sources, the priors with rationales, provenance.
``docs/report.md`` explains each section and plot for readers.
"""

from __future__ import annotations

from rdshare.report.build import PLOTS_DIR, REPORT_FILES, build_report, write_report_into
from rdshare.report.inputs import ReportInputs, collect
from rdshare.report.render import Banner, Image, Items, Para, Section, Table
from rdshare.report.sections import headline_sentence
from rdshare.report.taught import (
    LEARNED_MAX,
    MOSTLY_PRIOR_MIN,
    SHIFT_NOTABLE,
    Learning,
    data_taught,
)

__all__ = [
    "LEARNED_MAX",
    "MOSTLY_PRIOR_MIN",
    "PLOTS_DIR",
    "REPORT_FILES",
    "SHIFT_NOTABLE",
    "Banner",
    "Image",
    "Items",
    "Learning",
    "Para",
    "ReportInputs",
    "Section",
    "Table",
    "build_report",
    "collect",
    "data_taught",
    "headline_sentence",
    "write_report_into",
]

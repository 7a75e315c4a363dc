"""The run report: every section present, numbers equal to summary.csv, self-contained, escaped;
``rdshare report`` rebuilds it from a saved run without touching the hashed files."""

from __future__ import annotations

import dataclasses
import re
import shutil
from html.parser import HTMLParser

import pandas as pd
import pytest

import rdshare.report as report
import rdshare.report.build as report_build
from rdshare.cli import main
from rdshare.core.dataset import Dataset
from rdshare.inference.results import load_run
from rdshare.report import (
    LEARNED_MAX,
    MOSTLY_PRIOR_MIN,
    Learning,
    Para,
    Section,
    Table,
    build_report,
)

from ..conftest import SMALL
from .test_plots import check_png

SECTIONS = (
    "Headline",
    "Convergence",
    "What the data taught",
    "Plots",
    "Prior against posterior",
    "Per-row estimates against the data",
    "Posterior predictive check",
    "LOO-PIT calibration",
    "Savings against ecosystem size",
    "Savings in the example scenarios",
    "Sampler diagnostics: rank plots",
    "Example scenarios",
    "Summary table",
    "Dataset",
    "Priors",
    "Provenance",
)
PNGS = (
    "prior_posterior.png",
    "row_estimates.png",
    "predictive_check.png",
    "loo_pit.png",
    "ecosystem_savings.png",
    "scenario_savings.png",
    "fan_essay-claims.png",
    "compounding_essay-claims.png",
    "rank.png",
)
HEADLINE_RE = re.compile(
    r"R&D share of a frontier lab's development compute \(FLOP, 2025, full pipeline\): (\d\.\d\d), "
    r"90% interval (\d\.\d\d) to (\d\.\d\d)"
)


class Tables(HTMLParser):
    """Collects headings and every table's rows (cell texts) from an HTML page."""

    def __init__(self):
        super().__init__()
        self.headings: list[str] = []
        self.tables: list[list[list[str]]] = []
        self.imgs: list[str] = []
        self._in: str | None = None
        self._text = ""
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th", "h1", "h2", "h3"):
            self._in, self._text = tag, ""
        elif tag == "img":
            self.imgs.append(dict(attrs)["src"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None:
            self._row.append(self._text)
        elif tag in ("h2", "h3"):
            self.headings.append(self._text)
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in:
            self._text += data


def parse(html: str) -> Tables:
    p = Tables()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def page(small_run):
    return (small_run / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def markdown(small_run):
    return (small_run / "report.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def summary(small_run):
    return pd.read_csv(small_run / "summary.csv")


def test_headline_gives_p_discount_positive_before_and_after(markdown, small_run):
    from rdshare.inference.results import discount_positive, load_run

    run = load_run(small_run)
    after, before = discount_positive(run.tree, run.priors)
    import html

    text = html.unescape(markdown)
    assert f"P(d > 0) = {after:.2f} (under the prior alone: {before:.2f})." in text


def test_every_file_is_written(small_run):
    assert (small_run / "report.html").stat().st_size > 100_000
    assert (small_run / "report.md").stat().st_size > 5_000
    for name in PNGS:
        check_png((small_run / "plots" / name).read_bytes())
    assert not [p for p in small_run.iterdir() if p.name.startswith(".")]  # no staging left


def test_every_section_is_present(page, markdown):
    headings = parse(page).headings
    for title in SECTIONS:
        assert title in headings, title
        assert re.search(rf"^#+ {re.escape(title)}$", markdown, re.M), title
    assert "could not be drawn" not in page


def test_headline_matches_summary_csv(page, markdown, summary):
    row = summary.set_index("name").loc["f_frontier"]
    expected = tuple(f"{row[c]:.2f}" for c in ("q50", "q05", "q95"))
    for text in (page.replace("&#x27;", "'").replace("&amp;", "&"), markdown):
        m = HEADLINE_RE.search(text)
        assert m is not None
        assert m.groups() == expected
    lo, hi = row["q05"], row["q95"]
    where = "inside" if lo <= 0.8 <= hi else ("below" if lo > 0.8 else "above")
    assert f'"about 80%" of development compute is R&D (0.80) lies {where}' in markdown


def test_summary_table_matches_summary_csv(page, summary):
    tables = parse(page).tables
    table = next(t for t in tables if t[0][:3] == ["name", "mean", "sd"])
    header, rows = table[0], table[1:]
    assert header == list(summary.columns)
    assert [r[0] for r in rows] == summary["name"].tolist()
    for r, (_, s) in zip(rows, summary.iterrows(), strict=True):
        for col, cell in zip(header[1:], r[1:], strict=True):
            tol = 0.51 if col.startswith("ess") else 0.00051
            assert abs(float(cell) - s[col]) <= tol, (s["name"], col, cell, s[col])


def test_data_taught_table_matches_the_run(page, small_run, summary):
    run = load_run(small_run)
    table = next(t for t in parse(page).tables if t[0][0] == "quantity")
    by_name = {r[0]: r for r in table[1:]}
    assert {"f_frontier", "f_follower", "discount", "sigma_lab"} <= set(by_name)
    for lr in report.data_taught(run.tree, summary, run.priors):
        row = by_name[lr.name]
        s = summary.set_index("name").loc[lr.name]
        assert row[2] == f"{s['q05']:.2f} to {s['q95']:.2f}"
        assert row[1] == f"{lr.prior_q05:.2f} to {lr.prior_q95:.2f}"
        assert float(row[3]) == pytest.approx(lr.width_ratio, abs=0.006)
        assert row[5] == lr.reading
        if lr.name in {p.name for p in run.priors}:
            # a parameter's prior interval is exact, from the prior file, not from draws
            want = run.priors[lr.name].quantiles((0.05, 0.95))
            assert (lr.prior_q05, lr.prior_q95) == pytest.approx(tuple(want), rel=1e-12)
        else:  # a derived quantity: from the run's prior draws
            prior = run.tree["prior"].ds[lr.name].values.ravel()
            assert lr.prior_q05 == pytest.approx(float(pd.Series(prior).quantile(0.05)))


def test_page_is_self_contained(page):
    assert "<script" not in page
    assert "<link" not in page
    assert not re.search(r"""(src|href)=["']https?:""", page)
    imgs = parse(page).imgs
    assert len(imgs) == len(PNGS)
    assert all(src.startswith("data:image/png;base64,") for src in imgs)


def test_unconverged_run_is_flagged_loudly(page, markdown, small_run):
    assert not load_run(small_run).converged  # 2 x 200 draws cannot pass the gate
    assert page.count('class="banner banner-danger"') >= 2
    assert "NOT CONVERGED" in markdown.split("## Convergence")[0]  # before any number


def test_provenance_names_seed_hashes_and_versions(page, small_run):
    run = load_run(small_run)
    assert run.manifest["inputs"]["data_sha256"] in page
    assert run.manifest["inputs"]["priors_sha256"] in page
    assert run.manifest["versions"]["pymc"] in page
    seed_row = next(r for t in parse(page).tables for r in t if r[:1] == ["seed"])
    assert seed_row[1] == str(run.manifest["seed"])


@pytest.mark.parametrize(
    ("ratio", "shift", "word"),
    [
        (0.95, 0.1, "mostly prior"),
        (0.9, -0.8, "shifted, not narrowed"),
        (0.7, 0.0, "partly learned"),
        (0.8, 0.0, "mostly prior"),  # boundaries as shown (two decimals)
        (0.7996, 0.0, "mostly prior"),
        (0.5, 0.0, "learned from the data"),
        (0.3, 1.5, "learned from the data"),
    ],
)
def test_learning_reading_thresholds(ratio, shift, word):
    assert LEARNED_MAX < MOSTLY_PRIOR_MIN
    lr = Learning("x", 0.0, 0.5, 1.0, 0.25, 0.0, 0.5 + 0.25 * shift, ratio)
    assert lr.width_ratio == pytest.approx(ratio)
    assert lr.shift == pytest.approx(shift)
    assert lr.reading.startswith(word)


# --- building from a saved run, with the plots stubbed out where only the text matters ---------


@pytest.fixture
def no_plots(monkeypatch):
    monkeypatch.setattr(report_build, "_plot_specs", lambda inp, evaluated: [])


def test_text_is_escaped_in_html_and_markdown(small_run, tmp_path, no_plots):
    run = load_run(small_run)
    table = run.dataset.table.copy()
    table.loc[0, "source"] = "<script>alert('x')</script> | [link](javascript:x) & co"
    table.loc[0, "note"] = "line one\nline two <b>bold</b>"
    bad = dataclasses.replace(run, dataset=Dataset(table, run.dataset.files, run.dataset.sha256))
    build_report(bad, tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "<b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<script>" not in md
    assert "<b>" not in md
    assert "&lt;script&gt;" in md
    data_row = next(line for line in md.splitlines() if line.startswith("| olmo3 |"))
    assert data_row.count(" | ") == 11  # the pipe in the source did not add a column
    assert "line one line two" in data_row


def test_converged_run_gets_a_calm_banner(small_run, tmp_path, no_plots):
    run = load_run(small_run)
    diag = dict(run.diagnostics, converged=True, advice=[])
    diag["checks"] = [dict(c, passed=True) for c in diag["checks"]]
    build_report(dataclasses.replace(run, diagnostics=diag), tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "NOT CONVERGED" not in page
    assert "Converged: every check" in page


def test_extra_sections_hook(small_run, tmp_path, no_plots):
    extra = Section("Prior sensitivity", (Para("alt <priors>"), Table(("a", "b"), (("1", "2"),))))
    build_report(load_run(small_run), tmp_path, extra_sections=[extra])
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    heads = parse(page).headings
    assert heads.index("Example scenarios") < heads.index("Prior sensitivity")
    assert heads.index("Prior sensitivity") < heads.index("Summary table")
    assert "alt &lt;priors&gt;" in page
    assert "## Prior sensitivity" in md


def test_a_failing_plot_is_reported_not_raised(small_run, tmp_path, monkeypatch):
    def broken():
        raise RuntimeError("boom")

    spec = report_build.PlotSpec("broken.png", "A broken plot", "", broken)
    monkeypatch.setattr(report_build, "_plot_specs", lambda inp, evaluated: [spec])
    build_report(load_run(small_run), tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "This plot could not be drawn: RuntimeError: boom" in page


# --- the command -------------------------------------------------------------------------------


def test_cli_rebuilds_a_run_in_place(small_run, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(small_run, folder)
    (folder / "report.html").unlink()
    (folder / "report.md").write_text("stale", encoding="utf-8")
    shutil.rmtree(folder / "plots")
    hashed = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert main(["report", str(folder)]) == 0
    out = capsys.readouterr()
    assert f"report: {folder / 'report.html'}" in out.out
    assert "NOT pass the convergence gate" in out.err
    assert (folder / "report.md").read_text(encoding="utf-8") != "stale"
    for name in PNGS:
        assert (folder / "plots" / name).is_file()
    for name, data in hashed.items():
        if name not in ("report.md",):
            assert (folder / name).read_bytes() == data, name
    load_run(folder)  # still verifies: no hashed file was touched
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_cli_out_writes_elsewhere(small_run, tmp_path, no_plots):
    out = tmp_path / "elsewhere"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    assert main(["report", str(small_run), "--out", str(out)]) == 0
    assert (out / "report.html").is_file()
    assert (out / "report.md").is_file()
    assert (out / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_cli_refuses_an_edited_run(small_run, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(small_run, folder)
    with open(folder / "summary.csv", "a", encoding="utf-8") as fh:
        fh.write("tampered,1,1,1,1,1,1,1,1,1,1\n")
    (folder / "report.html").unlink()
    assert main(["report", str(folder)]) == 2
    assert "summary.csv" in capsys.readouterr().err
    assert not (folder / "report.html").exists()


def test_cli_help_has_an_example(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report", "--help"])
    assert exc.value.code == 0
    assert "rdshare report outputs/" in capsys.readouterr().out


# --- drawing the plots in two processes ----------------------------------------------------------


def _figure(label: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [0, 1, 4])
    ax.set_title(label)
    return fig


def _pyplot_figure(label: str):
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(3, 2))
    fig.add_subplot().bar([0, 1], [1, 2])
    fig.suptitle(label)
    plt.close(fig)  # detached, as rdshare's plots are
    return fig


def _specs(make_child=None):
    """Five figures; the two pyplot ones go to the forked child (make_child replaces one of them)."""
    specs = [
        report_build.PlotSpec(f"p{i}.png", f"p{i}", "", lambda i=i: _figure(f"p{i}"))
        for i in range(3)
    ]
    specs.append(
        report_build.PlotSpec("q0.png", "q0", "", lambda: _pyplot_figure("q0"), pyplot=True)
    )
    specs.append(
        report_build.PlotSpec(
            "q1.png", "q1", "", make_child or (lambda: _pyplot_figure("q1")), pyplot=True
        )
    )
    return specs


needs_fork = pytest.mark.skipif(
    not report_build._can_fork(), reason="draws in a forked process on Linux"
)


@needs_fork
def test_forked_threaded_and_in_order_drawing_give_the_same_pictures(monkeypatch):
    specs = _specs()
    here, [child] = report_build._split(specs, 1)
    assert {s.file for s in child} >= {"q0.png", "q1.png"}
    assert here  # both processes draw
    forked = report_build._render_plots(specs)
    threaded = report_build._render_threaded(specs)
    monkeypatch.setattr(report_build, "_NON_INTERACTIVE", set())  # as with a window: in order
    in_order = report_build._render_plots(specs)
    assert forked[1] == threaded[1] == in_order[1] == {}
    assert list(forked[0]) == [s.file for s in specs]  # the report's order
    assert forked[0] == threaded[0] == in_order[0]


@needs_fork
def test_a_plot_that_fails_in_the_child_is_reported_not_redrawn():
    def broken():
        raise RuntimeError("boom in the child")

    pngs, errors = report_build._render_plots(_specs(broken))
    assert errors == {"q1.png": "RuntimeError: boom in the child"}
    assert set(pngs) == {"p0.png", "p1.png", "p2.png", "q0.png"}


def _q1_unless_forked(in_the_child):
    """A figure maker that draws q1 here but calls ``in_the_child()`` instead in a forked process."""
    import os

    parent = os.getpid()

    def make():
        if os.getpid() != parent:
            in_the_child()
        return _pyplot_figure("q1")

    return make


def _crash():
    import os

    os._exit(1)  # a crash: nothing sent


def _hang():
    import time

    time.sleep(600)


@needs_fork
def test_what_a_dead_child_did_not_send_is_drawn_here():
    pngs, errors = report_build._render_plots(_specs(_q1_unless_forked(_crash)))
    assert errors == {}
    assert set(pngs) == {s.file for s in _specs()}


@needs_fork
def test_a_child_that_hangs_is_killed_and_its_plots_drawn_here(monkeypatch):
    import time

    monkeypatch.setattr(report_build, "FORK_TIMEOUT", 1.0)
    t0 = time.monotonic()
    pngs, errors = report_build._render_plots(_specs(_q1_unless_forked(_hang)))
    assert time.monotonic() - t0 < 60
    assert errors == {}
    assert set(pngs) == {s.file for s in _specs()}


def test_split_spreads_the_work_over_as_many_children_as_asked():
    spec = report_build.PlotSpec
    specs = [
        spec("a.png", "", "", None, cost=0.2),
        spec("rank.png", "", "", None, pyplot=True, cost=1.6),
        spec("b.png", "", "", None, cost=0.6),
        spec("loo.png", "", "", None, pyplot=True, cost=0.3),
        spec("c.png", "", "", None, cost=0.5),
    ]
    files = lambda side: [s.file for s in side]  # noqa: E731
    here, bins = report_build._split(specs, 1)  # the 2-core machine: pyplot figures in the child
    assert (files(here), [files(b) for b in bins]) == (
        ["b.png", "c.png", "a.png"],
        [["rank.png", "loo.png"]],
    )
    here, bins = report_build._split(specs, 3)
    assert files(here) == ["b.png"]
    assert [files(b) for b in bins] == [["rank.png"], ["loo.png", "a.png"], ["c.png"]]
    here, bins = report_build._split(specs[:1], 3)  # empty bins dropped
    assert (files(here), bins) == (["a.png"], [])


@needs_fork
def test_drawing_in_several_children_gives_the_same_pictures():
    """Where there are more cores, more children draw; the pictures do not change, and what one of
    them fails to send is drawn here."""
    specs = _specs()
    alone = report_build._render_forked(specs, children=1)
    assert report_build._render_forked(specs, children=4) == alone
    broken = _specs(_q1_unless_forked(_crash))
    assert report_build._render_forked(broken, children=4) == alone


def test_no_fork_when_told_not_to(monkeypatch):
    monkeypatch.setenv("RDSHARE_NO_FORK", "1")
    assert not report_build._can_fork()


# --- figures drawn while the fit goes on (rdshare fit's prerender) -------------------------------


def _pngs(folder):
    return {p.name: p.read_bytes() for p in sorted((folder / "plots").glob("*.png"))}


@needs_fork
def test_figures_prerendered_right_after_sampling_are_the_same_pictures(tmp_path):
    """As ``rdshare fit`` does it: the posterior-only figures start in a forked process from the tree
    as it is right after sampling (no predictive groups yet), and the report takes them from there.
    Every picture equals the one the report draws from the finished fit by itself."""
    from rdshare.inference.fit import fit

    seen = []

    def on_posterior(tree):
        seen.append(sorted(tree.children))
        early.append(report_build.prerender(tree))

    early = []
    res = fit(seed=2, **SMALL, on_posterior=on_posterior)
    assert seen == [["posterior", "sample_stats"]]  # called once, before the predictive groups
    assert {s.file for s in early[0].specs} == {"ecosystem_savings.png", "rank.png"}
    assert len(early[0].pids) == min(2, report_build._children())
    build_report(res, tmp_path / "early", early=early[0])
    build_report(res, tmp_path / "alone")
    assert set(_pngs(tmp_path / "early")) == set(PNGS)
    assert _pngs(tmp_path / "early") == _pngs(tmp_path / "alone")


def _posterior_only(make):
    return lambda tree: [report_build.PlotSpec("q1.png", "q1", "", make, pyplot=True)]


@needs_fork
def test_what_the_prerendering_child_did_not_send_is_drawn_here(monkeypatch):
    dies_in_the_child = _q1_unless_forked(_crash)
    monkeypatch.setattr(report_build, "posterior_specs", _posterior_only(dies_in_the_child))
    early = report_build.prerender(None)
    pngs, errors = report_build._render_plots(_specs(dies_in_the_child), early)
    assert errors == {}
    assert list(pngs) == [s.file for s in _specs()]
    assert pngs == report_build._render_plots(_specs())[0]


@needs_fork
def test_a_prerendering_child_is_killed_when_the_report_is_not_built(monkeypatch, tmp_path):
    """A fit that fails after sampling, or a report that fails before drawing, cancels the child: it is
    killed and reaped at once, not left drawing."""
    import os
    import time

    monkeypatch.setattr(report_build, "posterior_specs", _posterior_only(_q1_unless_forked(_hang)))

    def report_fails(early):
        with pytest.raises(RuntimeError, match="unreadable run"):
            build_report(None, tmp_path, early=early)

    def unreadable(run, folder):
        raise RuntimeError("unreadable run")

    monkeypatch.setattr(report_build, "collect", unreadable)
    for cancel in (lambda early: early.cancel(), report_fails):
        early = report_build.prerender(None)
        t0 = time.monotonic()
        cancel(early)
        assert time.monotonic() - t0 < 30
        for pid in early.pids:
            with pytest.raises(ChildProcessError):  # reaped
                os.waitpid(pid, os.WNOHANG)
        assert early.result(1.0) == ({}, {})


def test_no_prerendering_without_fork(monkeypatch):
    monkeypatch.setenv("RDSHARE_NO_FORK", "1")
    assert report_build.prerender(None) is None


@needs_fork
def test_when_fork_fails_everything_is_drawn_here_and_no_pipe_is_left_open(monkeypatch):
    import os

    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(report_build, "posterior_specs", _posterior_only(lambda: _figure("q1")))
    open_before = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(report_build.os, "fork", no_fork)
    assert report_build.prerender(None) is None
    pngs, errors = report_build._render_plots(_specs())
    assert errors == {}
    assert list(pngs) == [s.file for s in _specs()]
    assert len(os.listdir("/proc/self/fd")) == open_before

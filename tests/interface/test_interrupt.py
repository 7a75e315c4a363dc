"""Ctrl-C (and SIGTERM) during a real ``rdshare fit``: exit 130 (143), and no run folder left behind.

nutpie's blocking ``sample()`` catches KeyboardInterrupt and returns the partial trace (checked with
nutpie 0.16.11: 4,675 of 200,000 draws came back without an exception), so without care a Ctrl-C would
save a truncated posterior as if it were a run. ``rdshare.inference.fit.sample_posterior`` samples in
the background and re-raises; these tests prove it end to end, in a subprocess, mid-sampling.

The test waits until the sampler's worker threads (named ``nutpie-worker-N``) exist, which is when
sampling has begun; where ``/proc`` is not available it waits a fixed time instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RDSHARE = Path(sys.executable).with_name("rdshare")
FALLBACK_WAIT = 40.0  # seconds: imports plus an uncached compile, where threads cannot be seen
START_TIMEOUT = 180.0
#: Many draws, so sampling lasts far longer than the test waits; no report, to keep it lean.
FIT_ARGS = ("--draws", "200000", "--tune", "300", "--seed", "3", "--no-report")

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]


def _sampling(pid: int) -> bool | None:
    """True once nutpie's worker threads exist; None if threads cannot be inspected here."""
    tasks = Path(f"/proc/{pid}/task")
    if not tasks.is_dir():
        return None
    for t in tasks.iterdir():
        try:
            if (t / "comm").read_text().startswith("nutpie-worker"):
                return True
        except OSError:  # the thread ended meanwhile
            continue
    return False


def _start_and_wait_for_sampling(out: Path) -> subprocess.Popen:
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [str(RDSHARE), "fit", "--out", str(out), *FIT_ARGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    t0 = time.monotonic()
    while True:
        if proc.poll() is not None:
            _, err_text = proc.communicate()
            pytest.fail(f"fit ended before sampling (exit {proc.returncode}):\n{err_text}")
        state = _sampling(proc.pid)
        if state is None:
            time.sleep(FALLBACK_WAIT)
            break
        if state:
            time.sleep(1.0)  # well inside sampling
            break
        if time.monotonic() - t0 > START_TIMEOUT:
            proc.kill()
            proc.communicate()
            pytest.fail("sampling did not start in time")
        time.sleep(0.1)
    assert proc.poll() is None, "the fit finished before it could be interrupted"
    return proc


@pytest.mark.timeout(400)
@pytest.mark.parametrize(
    ("sig", "code", "words"),
    [
        (signal.SIGINT, 130, "rdshare: interrupted; no run folder was left behind"),
        (signal.SIGTERM, 143, "rdshare: terminated; no run folder was left behind"),
    ],
    ids=["ctrl-c", "sigterm"],
)
def test_signal_during_sampling_leaves_no_run_folder(tmp_path, sig, code, words):
    out = tmp_path / "runs" / "run"
    proc = _start_and_wait_for_sampling(out)
    proc.send_signal(sig)
    try:
        stdout, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the fit did not stop after the signal")
    assert proc.returncode == code, stderr
    assert words in stderr
    assert "Traceback" not in stderr
    assert "run folder:" not in stdout  # it never got as far as saving
    assert not out.exists()
    parent = out.parent
    assert not parent.exists() or list(parent.iterdir()) == []  # no .tmp-* either

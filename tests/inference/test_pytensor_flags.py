"""rdshare sets PyTensor's flags only while it compiles: a user's own settings survive import and fit."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from rdshare.inference.pytensor_flags import FLAGS, compile_flags

SCRIPT = """
import json, os
import pytensor
pytensor.config.numba__fastmath = True          # a notebook user's own choice
env_before = os.environ.get("PYTENSOR_FLAGS")
import rdshare.inference.model, rdshare.inference.fit
after_import = pytensor.config.numba__fastmath
import rdshare
res = rdshare.fit(seed=3, draws=50, tune=50, chains=1, cores=1, prior_draws=20)
print(json.dumps({
    "after_import": after_import,
    "after_fit": pytensor.config.numba__fastmath,
    "env_same": os.environ.get("PYTENSOR_FLAGS") == env_before,
    "drew": int(res.tree["posterior"].sizes["draw"]),
}))
"""


def test_a_users_settings_survive_import_and_fit(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTENSOR_FLAGS"] = "floatX=float64"
    env["RDSHARE_CACHE_DIR"] = str(tmp_path / "cache")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"after_import": True, "after_fit": True, "env_same": True, "drew": 50}


def test_flags_apply_inside_the_block_only():
    import pytensor

    before = pytensor.config.numba__fastmath
    with compile_flags():
        assert pytensor.config.numba__fastmath is FLAGS["numba__fastmath"]
    assert pytensor.config.numba__fastmath == before

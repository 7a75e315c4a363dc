"""PyTensor settings rdshare needs, applied before PyMC is used.

Reproducibility: PyTensor 3 compiles numba code with ``fastmath=True``. A gradient compiled fresh and one
loaded from the on-disk numba cache can then differ in the last bit, which NUTS amplifies into different
chains across processes for the same seed. rdshare turns fastmath off (no measurable cost at this model's
size), so the same inputs and seed give the same numbers in every process, cached or not.
"""

from __future__ import annotations

import os


def configure() -> None:
    """Set PyTensor flags rdshare relies on. Idempotent; call before building a model."""
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    if "numba__fastmath" not in flags:
        os.environ["PYTENSOR_FLAGS"] = ",".join(x for x in (flags, "numba__fastmath=False") if x)
    import pytensor

    pytensor.config.numba__fastmath = False

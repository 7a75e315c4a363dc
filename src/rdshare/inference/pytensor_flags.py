"""The PyTensor settings rdshare compiles with, set only while it compiles.

Reproducibility: PyTensor 3 compiles numba code with ``fastmath=True`` by default. A gradient compiled
fresh and one loaded from the on-disk numba cache can then differ in the last bit, which NUTS amplifies
into different chains across processes for the same seed. rdshare compiles its model with fastmath off
(no measurable cost at this model's size), so the same inputs and seed give the same numbers in every
process, cached or not.

The setting is scoped: :func:`compile_flags` changes ``pytensor.config`` for the duration of a ``with``
block and restores the caller's value afterwards, and never touches ``PYTENSOR_FLAGS`` in the
environment. Importing rdshare, or fitting with it, leaves a notebook user's own PyTensor settings as
they were (``tests/inference/test_pytensor_flags.py``). The flag is read when PyTensor builds the numba
functions, which happens inside the block; numba keeps it with each function it compiles later.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

#: Settings rdshare compiles its model with.
FLAGS = {"numba__fastmath": False}


@contextlib.contextmanager
def compile_flags() -> Iterator[None]:
    """Within the block, PyTensor compiles with :data:`FLAGS`; the caller's settings come back after."""
    import pytensor

    with pytensor.config.change_flags(**FLAGS):
        yield

"""The cache key of a compiled sampler: the model's structure and everything around it that changes code.

The key hashes the caller's structure key (for rdshare: variant, rows, labs, priors and package versions;
:func:`rdshare.inference.fit.structure_key`), this package's cache format, the versions of nutpie, numba,
llvmlite, numpy and Python, the CPU, and the bytes of the modules that shape the log-density kernels or
their inputs. The key is what
keeps an intact but stale entry from being used (the checks in :mod:`.store` catch damaged entries, not a
changed model), so it errs towards recompiling.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

#: Bumped when the entry layout or the generated wrappers change (3: rdshare's own log-density kernels).
CACHE_FORMAT = 3
#: nutpie versions whose internals this module mirrors (see the module docstring).
SUPPORTED_NUTPIE = ("0.16.11",)
#: Entries kept on disk; the least recently used beyond this are removed when a new one is written.
MAX_ENTRIES = 64


def cache_enabled() -> bool:
    """False when ``RDSHARE_NO_CACHE`` is set to a true value."""
    return os.environ.get("RDSHARE_NO_CACHE", "").strip().lower() not in ("1", "true", "yes", "on")


def cache_root() -> Path:
    """The cache directory (it may not exist yet)."""
    explicit = os.environ.get("RDSHARE_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "rdshare"


def _entry_dir(root: Path) -> Path:
    return root / f"sampler-v{CACHE_FORMAT}"


def _file_sha(path: str | Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def environment_fingerprint() -> dict[str, object]:
    """Everything outside the model's structure that changes the compiled sampler."""
    import llvmlite.binding

    from rdshare.core import dataset, design, families, generative, kinds, priors, quantities
    from rdshare.inference import density, evidence_kernel

    out: dict[str, object] = {
        "format": CACHE_FORMAT,
        "python": sys.version,
        "machine": platform.machine(),
        "cpu": llvmlite.binding.get_host_cpu_name(),
        "cpu_features": llvmlite.binding.get_host_cpu_features().flatten(),
    }
    for pkg in ("nutpie", "numba", "llvmlite", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    # The modules that shape the kernels or their inputs. The key is the only guard against an entry
    # that is intact but stale, so it errs on the side of recompiling: any edit to these files gives new
    # entries.
    here = Path(__file__).parent
    modules = (
        density,
        evidence_kernel,
        dataset,
        design,
        families,
        generative,
        kinds,
        priors,
        quantities,
    )
    out["sources"] = {m.__name__: _file_sha(m.__file__) for m in modules}
    out["sources"].update({p.name: _file_sha(p) for p in sorted(here.glob("*.py"))})
    return out


def entry_key(structure_key: str) -> str:
    """The cache key of a model whose structure key is ``structure_key``."""
    payload = {"structure": structure_key, "environment": environment_fingerprint()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

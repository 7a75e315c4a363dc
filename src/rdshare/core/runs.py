"""Output folders: written whole or not at all, never silently replaced, verified on load.

Every command that writes a folder (``fit``, ``forecast``, ``sbc``, ``sensitivity``, ``compare``) writes it
with :func:`write_folder`: the folder is built in a hidden temporary sibling (``.tmp-<name>-<pid>``) and
renamed into place only when every file is written, so an interrupted or failed command never leaves a
folder that looks complete. ``manifest.json`` records what wrote the folder (``kind``, command, package
versions, seed) and the sha256 of its result files; :func:`verify` refuses a folder whose files no
longer match it. ``--force`` replaces only a folder rdshare wrote (one with a manifest) or an empty one
(:func:`check_target`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path

from rdshare.errors import Problem, RunExistsError, RunFolderError

#: Bumped when the layout of a run folder changes incompatibly.
RUN_FORMAT = 1
MANIFEST = "manifest.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: Packages whose versions can change results; every manifest records them.
PACKAGES = (
    "rdshare",
    "pymc",
    "pytensor",
    "nutpie",
    "arviz",
    "arviz-base",
    "arviz-stats",
    "numpy",
    "scipy",
    "pandas",
    "xarray",
)


def package_version(name: str = "rdshare") -> str:
    """The installed version of ``name``, or ``"not installed"``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """Versions of Python and the packages that can change results."""
    return {"python": platform.python_version(), **{p: package_version(p) for p in PACKAGES}}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_run_name(name: str) -> str:
    """A run id given on the command line: a plain name that cannot leave the outputs folder."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or ".." in name:
        raise RunFolderError(
            Problem(
                "<command line>",
                f"{name!r} is not a valid run name: use letters, digits, '.', '_' and '-' "
                "(no slashes, no '..', at most 128 characters)",
                field="--name",
            )
        )
    return name


def default_run_name(seed: int, inputs_sha: str) -> str:
    """``YYYYmmdd-HHMMSS-s<seed>-<8 hex of the inputs' hash>``, in UTC."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + f"-s{seed}-{inputs_sha[:8]}"


def check_target(final: Path, *, force: bool = False) -> None:
    """Refuse an output folder path that cannot or must not be written, before any work is done.

    An existing ``final`` raises :class:`RunExistsError` unless ``force``; even with ``force`` only a
    folder rdshare wrote (every rdshare output folder holds a ``manifest.json``) or an empty folder is
    replaced, never a file or a folder holding anything else (``--out . --force`` must not delete the
    working directory). A path whose parent is a file is a :class:`RunFolderError`.
    """
    final = Path(final)
    for parent in final.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RunFolderError(
                    Problem(str(final), f"cannot be created: {parent} is a file, not a folder")
                )
            break
    if not (final.exists() or final.is_symlink()):
        return
    if not force:
        raise RunExistsError(
            f"{final} already exists; choose another --out/--name or pass --force to replace it"
        )
    if final.is_symlink() or not final.is_dir():
        raise RunExistsError(f"{final} exists and is not a folder; not replaced, even with --force")
    if not (final / MANIFEST).is_file() and any(final.iterdir()):
        raise RunExistsError(
            f"{final} is not a folder rdshare wrote (no {MANIFEST}); not replaced, even with --force"
        )


def _remove(path: Path) -> None:
    """Remove a folder tree, finishing even if a second Ctrl-C arrives meanwhile."""
    while True:
        try:
            shutil.rmtree(path, ignore_errors=True)
            return
        except KeyboardInterrupt:
            continue


@contextlib.contextmanager
def staged_folder(final: Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder; on success move it to ``final`` atomically.

    On any exception (KeyboardInterrupt included) the temporary folder is removed and ``final`` is left
    as it was. An existing ``final`` raises :class:`RunExistsError` unless ``force`` (see
    :func:`check_target`); with ``force`` it is replaced only after the new folder is complete.
    """
    final = Path(final)
    check_target(final, force=force)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    except OSError as exc:
        raise RunFolderError(
            Problem(str(final), f"cannot be created ({exc.strerror or exc})")
        ) from None
    try:
        yield tmp
        if final.exists():
            if not force:
                raise RunExistsError(
                    f"{final} appeared while the run was being written; not replaced"
                )
            check_target(final, force=True)
            old = final.parent / f".old-{final.name}-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            _remove(old)
        else:
            os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise


def write_json(path: Path, obj) -> None:
    """JSON with sorted keys and a trailing newline (stable bytes)."""
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


def write_csv(path: Path, frame, *, index_label: str | None = None) -> None:
    """A table as CSV with six significant digits and LF line ends (stable bytes); the index is written
    only under ``index_label``."""
    frame.to_csv(
        path,
        index=index_label is not None,
        index_label=index_label,
        float_format="%.6g",
        lineterminator="\n",
    )


def write_manifest(folder: Path, info: dict, hashed: tuple[str, ...]) -> dict:
    """Hash the result files ``hashed`` (paths relative to ``folder``) and write the manifest.

    Only results are hashed; derived views (report, plots, forecasts) can be rebuilt from them and are
    not listed.
    """
    files = {rel: sha256_file(folder / rel) for rel in hashed}
    manifest = {"format": RUN_FORMAT, **info, "files": files}
    write_json(folder / MANIFEST, manifest)
    return manifest


def read_manifest(folder: Path) -> dict:
    """The manifest of a run folder, or a :class:`RunFolderError` saying what is wrong."""
    folder = Path(folder)
    mpath = folder / MANIFEST
    if not folder.exists():
        raise RunFolderError(Problem(str(folder), "is not a run folder (no such folder)"))
    if not folder.is_dir():
        raise RunFolderError(Problem(str(folder), "is a file, not a run folder"))
    if not mpath.is_file():
        raise RunFolderError(
            Problem(str(mpath), "missing: this is not a complete rdshare run folder")
        )
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RunFolderError(Problem(str(mpath), f"is not valid JSON ({exc})")) from None
    except OSError as exc:
        raise RunFolderError(Problem(str(mpath), f"cannot be read ({exc.strerror})")) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise RunFolderError(Problem(str(mpath), "has no 'files' table", field="files"))
    return manifest


def _safe_relative(rel: object) -> bool:
    """A manifest entry must name a file inside the run folder."""
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        return False
    parts = Path(rel).parts
    return not Path(rel).is_absolute() and ".." not in parts


def verify(folder: Path, required: tuple[str, ...] = ()) -> dict:
    """Check every file listed in the manifest exists and matches its hash.

    Derived files (report, plots, ``forecast/``) are not listed and not checked; files the manifest lists
    must be unchanged. Returns the manifest.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    problems = []
    fmt = manifest.get("format")
    if fmt != RUN_FORMAT:
        problems.append(
            Problem(
                str(folder / MANIFEST),
                f"run format {fmt!r} is not the one this rdshare reads ({RUN_FORMAT}); "
                "refit with this version",
                field="format",
            )
        )
    files: dict = manifest["files"]
    for rel in required:
        if rel not in files:
            problems.append(Problem(str(folder / rel), "missing from the run's manifest"))
    for rel, digest in files.items():
        if not _safe_relative(rel):
            problems.append(
                Problem(
                    str(folder / MANIFEST), f"lists {rel!r}, which is not inside the run folder"
                )
            )
            continue
        p = folder / rel
        if not p.is_file():
            problems.append(Problem(str(p), "listed in the manifest but missing"))
            continue
        try:
            actual = sha256_file(p)
        except OSError as exc:
            problems.append(Problem(str(p), f"cannot be read ({exc.strerror})"))
            continue
        if actual != digest:
            problems.append(
                Problem(str(p), "was changed after the run was written (sha256 does not match)")
            )
    if problems:
        raise RunFolderError(problems)
    return manifest


def write_folder(
    final: str | Path,
    write: Callable[[Path], Mapping | None],
    *,
    kind: str,
    force: bool = False,
    command: Sequence[str] | None = None,
    seed: int | None = None,
    info: Mapping | None = None,
    hashed: Sequence[str] | None = None,
) -> Path:
    """Write an output folder whole or not at all, with its manifest; the one writer every command uses.

    Parameters
    ----------
    final : path
        The folder to create (refused if it exists, unless ``force``; see :func:`check_target`).
    write : callable
        ``write(tmp)`` writes the folder's files into the staging folder ``tmp``; it may return more
        manifest entries (for example timings measured while writing).
    kind : str
        What the folder is (``"run"``, ``"forecast"``, ``"sbc"``, ``"sensitivity"``, ``"compare"``).
    command : sequence of str, optional
        The command line (default ``sys.argv``).
    seed : int, optional
        The seed the results came from.
    info : mapping, optional
        Further manifest entries.
    hashed : sequence of str, optional
        Result files whose sha256 the manifest records (relative paths); default every file written.

    Returns
    -------
    Path
        ``final``.
    """
    final = Path(final)
    with staged_folder(final, force=force) as tmp:
        extra = write(tmp) or {}
        if hashed is None:
            hashed = sorted(q.relative_to(tmp).as_posix() for q in tmp.rglob("*") if q.is_file())
        write_manifest(
            tmp,
            {
                "kind": kind,
                "command": list(command) if command is not None else list(sys.argv),
                "versions": versions(),
                "seed": seed,
                **dict(info or {}),
                **dict(extra),
            },
            hashed=tuple(hashed),
        )
    return final

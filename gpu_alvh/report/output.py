"""Where a report may be written, and writing it without touching anything else.

A report directory holds ``index.html``, the figure files and the marker ``.alvh-report.json``
(which files the report wrote).  ``--out DIR`` is accepted when ``DIR`` does not exist, is an
empty directory, or holds a previous report (its marker); anything else is refused
(:class:`SpecError`, exit code 2) and left untouched.

The report is built in a temporary directory beside ``DIR`` (same file system).  A new ``DIR``
appears in one rename; into an existing one each file is moved with ``os.replace`` (atomic per
file: figures first, then ``index.html``, then the marker), and only files listed in the previous
marker and not written again are removed.  A file of another origin that happens to have the name
of one of our files is never overwritten.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from ..errors import SpecError
from ..spec.base import Shown

__all__ = ["MARKER", "check_out", "staging_dir", "publish"]

MARKER = ".alvh-report.json"
_GENERATOR = "gpu_alvh.report"
_ALLOWED = ("allowed: a new directory, an empty directory, or a directory holding a previous gpu_alvh report "
            f"(marked by {MARKER}; only the report's own files are replaced)")


def _previous(out: Path) -> set[str] | None:
    """Files of the previous report in ``out`` (``None`` when there is no valid marker)."""
    try:
        meta = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(meta, dict) or meta.get("generator") != _GENERATOR or not isinstance(meta.get("files"), list):
        return None
    return {f for f in meta["files"] if isinstance(f, str) and f and "/" not in f and "\\" not in f and f not in (".", "..")}


def check_out(out: str | os.PathLike) -> Path:
    """Check that a report may be written to ``out``; returns it as a :class:`Path`."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpecError.single(str(out), "--out", Shown(str(out)), f"is a file, not a directory; {_ALLOWED}")
    if out.is_dir() and any(out.iterdir()) and _previous(out) is None:
        raise SpecError.single(str(out), "--out", Shown(str(out)), f"is not empty and holds no gpu_alvh report; {_ALLOWED}")
    return out


def staging_dir(out: Path) -> Path:
    """A new temporary directory beside ``out`` (created with its parents)."""
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()  # mode 0o777 minus the umask, like the directory it becomes
    return tmp


def _write_marker(folder: Path, files: list[str], source: str) -> None:
    tmp = folder / f"{MARKER}.tmp"
    tmp.write_text(json.dumps({"generator": _GENERATOR, "source": source, "files": sorted(files)}, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MARKER)


def publish(staging: Path, out: Path, files: list[str], source: str) -> Path:
    """Move the report ``files`` from ``staging`` into ``out`` (see the module docstring); returns ``out``."""
    try:
        check_out(out)
        if not out.exists() or not any(out.iterdir()):
            _write_marker(staging, files, source)
            if out.exists():
                out.rmdir()  # empty: replaced by the complete report in one rename
            os.rename(staging, out)
            return out
        prev = _previous(out) or set()
        clash = sorted(f for f in files if (out / f).exists() and f not in prev)
        if clash:
            raise SpecError.single(str(out), "--out", Shown(str(out)), f"holds {', '.join(clash[:5])}, which the previous report did not write; "
                                   f"refusing to overwrite it. {_ALLOWED}")
        order = sorted(files, key=lambda f: (f == "index.html", f))
        for f in order:
            os.replace(staging / f, out / f)
        for f in sorted(prev - set(files)):
            p = out / f
            if p.is_file() or p.is_symlink():
                p.unlink()
        _write_marker(out, files, source)
        return out
    finally:
        shutil.rmtree(staging, ignore_errors=True)

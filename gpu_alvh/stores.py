"""Output stores on disk: their kind, their completeness, and replacing them without losing data.

Every Zarr store gpu_alvh writes carries two root attributes (in ``.zattrs``):

* ``gpu_alvh_store``: the kind of store - ``"run"`` (``alvh run``, :func:`gpu_alvh.run`),
  ``"paths"`` (``alvh simulate``, :func:`gpu_alvh.simulate`) or ``"sweep"`` (``alvh sweep run``);
* ``gpu_alvh_complete``: the time the last variable was written; set last, so a run or paths
  store without it is incomplete.  (A sweep store is complete as a template as soon as it
  exists at its path - see :mod:`gpu_alvh.sweeps.store`; its cells have their own status.)

Rules (SPEC section 9), enforced by :func:`check_out` before any computation and again when
the store is written:

* ``--out`` may name a new path in an existing, writable folder, an empty folder, or a store
  of the command's own kind; replacing a store of its own kind needs ``overwrite=True``
  (``--overwrite``).  Anything else - a file, a folder that is not a gpu_alvh store (``.``,
  the home folder, a project), a store of another kind, the working directory or a folder
  above it, a symbolic link - is refused with a :class:`~gpu_alvh.errors.SpecError` (exit
  code 2) naming the path.  Nothing gpu_alvh did not write is ever deleted or rewritten.
* :func:`write_store` writes into a hidden sibling ``.NAME.alvh-tmp-<host>-<pid>-<id>``,
  marks it complete, and only then moves it into place: where the old store is replaced,
  the two folders are exchanged atomically (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere
  two renames) and the old one is deleted afterwards.  A write interrupted at any point
  (Ctrl-C, ``kill -9``, a full disk) leaves the old store - or nothing - at the path, never
  a partial store; a temporary sibling left by a killed writer is removed by the next write
  to the same path.
* :func:`check_readable` (used by :func:`gpu_alvh.open_results`) refuses a path that is not
  a gpu_alvh store, or a run / paths store without its completion marker.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import json
import os
import shutil
import socket
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import SpecError
from .spec.base import Shown

__all__ = ["KIND_ATTR", "COMPLETE_ATTR", "KINDS", "OutTarget", "store_kind", "root_attrs", "inspect_out", "check_out",
           "check_readable", "write_store", "move_into_place", "pid_alive"]

KIND_ATTR = "gpu_alvh_store"
COMPLETE_ATTR = "gpu_alvh_complete"
#: kind -> the command that writes it
KINDS = {"run": "alvh run", "paths": "alvh simulate", "sweep": "alvh sweep run"}
_TMP = ".alvh-tmp-"
_OLD = ".alvh-old-"


def root_attrs(path: str | os.PathLike) -> dict | None:
    """Root attributes of a Zarr (format 2) store, or ``None`` when there are none (not a Zarr group)."""
    try:
        data = json.loads((Path(path) / ".zattrs").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def store_kind(path: str | os.PathLike) -> str | None:
    """``"run"``, ``"paths"`` or ``"sweep"`` for a store written by gpu_alvh, else ``None``."""
    attrs = root_attrs(path) or {}
    kind = attrs.get(KIND_ATTR)
    if kind in KINDS:
        return kind
    if (Path(path) / ".sweep" / "sweep.json").is_file():  # sweep stores carry their identity file
        return "sweep"
    return None


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _refuse(option: str, text: str, why: str) -> SpecError:
    return SpecError.single("command line", option, Shown(repr(text)), why)


def _allowed(kind: str) -> str:
    return f"allowed: a new path in an existing folder, an empty folder, or a {kind} store written by `{KINDS[kind]}` (with --overwrite)"


def _describe_entries(folder: Path, limit: int = 3) -> str:
    names, n = [], 0
    with os.scandir(folder) as it:
        for entry in it:
            n += 1
            if len(names) < limit:
                names.append(entry.name + ("/" if entry.is_dir(follow_symlinks=False) else ""))
            if n > 1000:
                break
    more = f", ... ({n if n <= 1000 else 'over 1000'} entries)" if n > limit else ""
    return ", ".join(names) + more


def _check_folder_writable(folder: Path, option: str, text: str) -> None:
    if not folder.exists():
        raise _refuse(option, text, f"the folder {str(folder)!r} does not exist; allowed: a path in an existing folder (create it first)")
    if not folder.is_dir():
        raise _refuse(option, text, f"{str(folder)!r} is not a folder")
    try:  # a real probe: os.access says yes to root on read-only file systems
        os.rmdir(tempfile.mkdtemp(prefix=".alvh-probe-", dir=folder))
    except OSError as exc:
        raise _refuse(option, text, f"the folder {str(folder)!r} is not writable ({exc.strerror}); allowed: a path in a writable folder") from None


@dataclass(frozen=True)
class OutTarget:
    """A checked output path: ``kind`` of the store there (``None``: nothing, or an empty folder)."""

    path: Path
    kind: str | None
    attrs: dict

    @property
    def exists(self) -> bool:
        return self.kind is not None


def inspect_out(path: str | os.PathLike, kind: str, *, option: str = "--out") -> OutTarget:
    """Check that ``path`` may hold a ``kind`` store; what is there now (see the module docstring).

    Raises :class:`SpecError` for every path a ``kind`` store may never replace; a store of
    ``kind`` already there is returned (``overwrite`` is the caller's rule, see :func:`check_out`).
    """
    text = os.fspath(path)
    if not text.strip():
        raise _refuse(option, text, _allowed(kind) + " (got an empty path)")
    p = Path(os.path.abspath(Path(text).expanduser()))
    if os.path.islink(p):
        raise _refuse(option, text, f"is a symbolic link (to {os.readlink(p)!r}); allowed: the path of the store itself")
    if not os.path.lexists(p):
        _check_folder_writable(p.parent, option, text)
        return OutTarget(p, None, {})
    if not p.is_dir():
        what = "a file" if p.is_file() else "not a regular file or folder"
        raise _refuse(option, text, f"is {what}; gpu_alvh never replaces what it did not write; {_allowed(kind)}")
    cwd = Path(os.path.abspath(os.getcwd()))
    if p == cwd or p in cwd.parents:
        raise _refuse(option, text, f"is the working directory{' or a folder above it' if p != cwd else ''}; {_allowed(kind)}")
    found = store_kind(p)
    if found is None:
        try:
            entries = _describe_entries(p)
        except OSError as exc:
            raise _refuse(option, text, f"is a folder that cannot be read ({exc.strerror})") from None
        if entries:
            raise _refuse(option, text, f"is a folder that is not a gpu_alvh store (it holds {entries}); gpu_alvh never replaces what it "
                          f"did not write; {_allowed(kind)}")
        _check_folder_writable(p.parent, option, text)
        return OutTarget(p, None, {})
    if found != kind:
        raise _refuse(option, text, f"is a gpu_alvh {found} store (written by `{KINDS[found]}`); `{KINDS[kind]}` replaces only {kind} stores; "
                      "allowed: another path")
    _check_folder_writable(p.parent, option, text)
    return OutTarget(p, found, root_attrs(p) or {})


def check_out(path: str | os.PathLike, kind: str, *, overwrite: bool = False, option: str = "--out") -> Path:
    """Validate an output path for a ``kind`` store before any work; returns it (absolute).

    A ``kind`` store already at ``path`` is only accepted with ``overwrite=True``.
    """
    target = inspect_out(path, kind, option=option)
    if target.exists and not overwrite:
        when = target.attrs.get("created")
        raise _refuse(option, os.fspath(path), f"a {kind} store{f' written {when}' if when else ''} is already there; pass --overwrite to "
                      "replace it (the old store stays until the new one is complete), or choose another path")
    return target.path


def check_readable(path: str | os.PathLike, *, option: str = "path") -> str:
    """Kind of the complete gpu_alvh store at ``path``; :class:`SpecError` for anything else."""
    p = Path(path)
    allowed = "allowed: a store written by `alvh run`, `alvh simulate` or `alvh sweep run` (or gpu_alvh.run / simulate / sweep)"
    if not p.exists():
        raise SpecError.single("argument", option, Shown(repr(str(p))), f"no such store; {allowed}")
    kind = store_kind(p) if p.is_dir() else None
    if kind is None:
        raise SpecError.single("argument", option, Shown(repr(str(p))), f"is not a gpu_alvh store (no {KIND_ATTR!r} attribute); {allowed}")
    if kind != "sweep" and not (root_attrs(p) or {}).get(COMPLETE_ATTR):
        raise SpecError.single("argument", option, Shown(repr(str(p))),
                               f"is an incomplete {kind} store (its write was interrupted before the completion marker); rerun "
                               f"`{KINDS[kind]}` to write it again")
    return kind


# ------------------------------------------------------------------------------------ writing
def _tmp_sibling(target: Path, tag: str = _TMP) -> Path:
    return target.with_name(f".{target.name}{tag}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _remove_leftovers(target: Path) -> None:
    """Remove temporary siblings of ``target`` left by killed writers on this host."""
    host = socket.gethostname()
    for tag in (_TMP, _OLD):
        for p in target.parent.glob(f".{target.name}{tag}*"):
            rest = p.name[len(f".{target.name}{tag}"):]
            try:
                h, pid, _ = rest.rsplit("-", 2)
                pid = int(pid)
            except ValueError:
                continue
            if h == host and not pid_alive(pid):
                shutil.rmtree(p, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _mark_complete(tmp: Path) -> None:
    attrs = root_attrs(tmp) or {}
    attrs[COMPLETE_ATTR] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    part = tmp / f".zattrs.{uuid.uuid4().hex[:8]}.partial"
    part.write_text(json.dumps(attrs, indent=4, sort_keys=True), encoding="utf-8")
    os.replace(part, tmp / ".zattrs")


def move_into_place(tmp: Path, target: Path, kind: str) -> None:
    """Move the complete store ``tmp`` to ``target``, replacing what :func:`inspect_out` allowed there."""
    if not os.path.lexists(target):
        os.rename(tmp, target)  # fails (nothing lost) if someone created target meanwhile
        return
    if target.is_dir() and not os.path.islink(target) and not any(target.iterdir()):
        os.rmdir(target)
        os.rename(tmp, target)
        return
    if _exchange(tmp, target):
        if store_kind(tmp) != kind:  # target changed since it was checked: put it back, touch nothing
            _exchange(tmp, target)
            raise SpecError.single("command line", "--out", Shown(repr(str(target))), "changed while the results were computed; nothing was replaced")
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = _tmp_sibling(target, _OLD)
    os.rename(target, old)
    if store_kind(old) != kind:
        os.rename(old, target)
        raise SpecError.single("command line", "--out", Shown(repr(str(target))), "changed while the results were computed; nothing was replaced")
    os.rename(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def write_store(write: Callable[[Path], None], path: str | os.PathLike, kind: str, *, overwrite: bool = False) -> Path:
    """Write a ``kind`` store at ``path`` atomically (see the module docstring); returns the path.

    ``write(tmp)`` writes the Zarr store into the folder ``tmp`` (not yet existing), with the
    root attribute ``gpu_alvh_store = kind``; this function adds the completion marker and
    moves the store into place.
    """
    target = check_out(path, kind, overwrite=overwrite)
    _remove_leftovers(target)
    tmp = _tmp_sibling(target)
    try:
        write(tmp)
        if (root_attrs(tmp) or {}).get(KIND_ATTR) != kind:
            raise RuntimeError(f"the writer did not mark {tmp} as a {kind} store")
        _mark_complete(tmp)
        move_into_place(tmp, target, kind)
    finally:
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return target

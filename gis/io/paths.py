"""Output paths, checked before any work is done (a failed write must not come after a long job)."""

from __future__ import annotations

import os
from pathlib import Path

from gis.errors import InputError


def writable_path(path: str | os.PathLike, *, field: str) -> Path:
    """``path`` as a :class:`Path` when a file can be written there; else :class:`InputError`.

    Parameters
    ----------
    path
        The file to write (created or replaced).
    field
        The option or argument that named it (``--rejects``, ``--out``), for the message.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise InputError(f"{field} '{target}' is a folder", field=field, fix="give a file name inside it")
    if not folder.is_dir():
        raise InputError(f"{field} '{target}': the folder '{folder}' does not exist", field=field,
                         fix="create the folder first or choose another path")
    if target.exists() and not os.access(target, os.W_OK) or not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{field} '{target}' cannot be written (permission denied)", field=field,
                         fix="choose a path you may write to")
    return target

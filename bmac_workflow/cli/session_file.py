"""Where `bmac login` keeps its session for this OS user: one file per database, readable by
that user alone, in the user's runtime directory (BMAC_SESSION_DIR to put it elsewhere).

The file holds the session's key (its id and secret), which reads as that operator until the
session is idle too long or ended; it signs nothing (docs/web.md: the threat model).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..sessions import SessionKey


def directory() -> Path:
    """The folder of the session files: BMAC_SESSION_DIR, else the user's runtime directory
    (XDG_RUNTIME_DIR: private, emptied at logout or reboot), else a private folder in the
    temporary directory."""
    given = os.environ.get("BMAC_SESSION_DIR")
    if given:
        return Path(given)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        from platformdirs import user_runtime_dir

        return Path(user_runtime_dir("bmac", appauthor=False))
    return Path(tempfile.gettempdir()) / f"bmac-{os.getuid()}"


def path_for(url: str) -> Path:
    """The session file of the database at `url` (one session per database)."""
    return directory() / f"session-{hashlib.sha256(url.encode('utf-8')).hexdigest()[:16]}.json"


def write(url: str, operator_id: str, key: SessionKey) -> Path:
    """Store the session's key, readable and writable by this user only (0600, folder 0700)."""
    path = path_for(url)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.parent.stat().st_uid != os.getuid():
        raise PermissionError(f"{path.parent} belongs to another user")
    os.chmod(path.parent, 0o700)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"operator": operator_id, "key": key.token()}, out)
    return path


def read(url: str) -> SessionKey | None:
    """The session's key for the database at `url`, or None (no file, or one that others could
    read or that is not this user's: such a file is not trusted)."""
    from ..sessions import SessionKey

    path = path_for(url)
    try:
        info = path.stat()
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            return None
        found = json.loads(path.read_text(encoding="utf-8"))
        return SessionKey.parse(str(found["key"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove(url: str) -> None:
    """Delete the session file of the database at `url`, if any."""
    path_for(url).unlink(missing_ok=True)

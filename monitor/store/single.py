"""One ``inchannel run`` per SQLite database.

Claims on PostgreSQL use FOR UPDATE SKIP LOCKED; SQLite has no row locks, so a second
worker on the same file would claim and decide the same messages as the first (and
answer twice). A second ``run`` on a SQLite database is refused instead. The lock is an
advisory ``flock`` on a file beside the database: the kernel releases it when the
process ends, however it ends, so a killed worker never leaves it stuck.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import make_url

from monitor.store.db import CannotCreateFolder, NeedsUpgrade, sqlite_path_missing

# Who holds the lock, written after the pid: `db copy` holds it too, and a worker it
# turns away must not be told another worker runs.
RUN = "inchannel run"
COPY = "inchannel db copy"
DOWNGRADE = "inchannel db downgrade"
_DOING = {COPY: "is copying", DOWNGRADE: "is migrating"}


class AnotherWorker(RuntimeError):
    """Another ``inchannel run`` (or ``db copy``, ``db downgrade``) holds this SQLite
    database."""

    def __init__(self, holder: str, path: str) -> None:
        pid, _, role = holder.partition(" ")
        self.holder, self.role, self.path = pid or "unknown", role or RUN, path
        if self.role in _DOING:
            doing = f"{self.role} (pid {self.holder}) {_DOING[self.role]} {path}"
            message = f"{doing}; start again when it is done"
        else:
            message = (
                f"another inchannel run (pid {self.holder}) is using {path}; SQLite takes one "
                "worker at a time (use PostgreSQL for several)"
            )
        super().__init__(message)


class CannotLock(RuntimeError):
    """The lock file beside the SQLite database cannot be opened (owned by another
    user, a folder under its name): a setup error no restart fixes."""

    def __init__(self, path: Path, exc: OSError) -> None:
        reason = exc.strerror or type(exc).__name__
        super().__init__(
            f"cannot open the worker lock file {path}: {reason}; the user running inchannel "
            "must be able to write it (a `sudo inchannel run` leaves it owned by root: chown "
            "it to that user, or delete it while no inchannel runs)"
        )


@contextmanager
def only_worker(url: str, *, role: str = RUN) -> Iterator[None]:
    """Hold the database's worker lock while the block runs (a no-op off SQLite files).
    NeedsUpgrade for a SQLite file that does not exist yet, before any lock file is made:
    every command holding the lock refuses such a database, and its lock file stayed
    behind beside no database."""
    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        yield
        return
    # Beside the file itself: a worker that names it through a symlink takes one lock
    # with a worker that names it as it is.
    lock_path = Path(f"{Path(path).resolve()}.run-lock")
    _make_folder(lock_path.parent)  # a folder that cannot be made is the error to show
    if sqlite_path_missing(path):
        raise NeedsUpgrade(parsed.render_as_string(hide_password=True), "does not exist yet")
    with _opened(lock_path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise AnotherWorker(handle.read().strip() or "unknown", path) from None
        handle.truncate(0)
        handle.write(f"{os.getpid()} {role}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CannotCreateFolder(folder, exc) from None


def _opened(lock_path: Path) -> TextIO:
    try:
        return lock_path.open("a+", encoding="utf-8")
    except OSError as exc:
        raise CannotLock(lock_path, exc) from None

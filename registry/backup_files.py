"""The file work behind ``registry.backup``: copying, checking and swapping SQLite files.

Kept apart from the backup and restore steps so each reads on its own; nothing here knows about
Alembic or the services.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

SQLITE_HEADER = b"SQLite format 3\x00"
# As long as the services wait for a lock (store.py's busy_timeout): a backup waits out a
# checkpoint rather than failing.
BUSY_TIMEOUT_S = 10.0
# A restore only asks whether anyone else has the file open; it need not wait long to know.
LOCK_WAIT_S = 2.0
_SIDECARS = ("-wal", "-shm", "-journal")


class BackupError(Exception):
    """A backup or restore could not be made; the message says what to do."""


class UnsupportedDatabase(BackupError):
    """The registry is not an SQLite file (PostgreSQL: use pg_dump / pg_restore)."""


class NotARegistryBackup(BackupError):
    """The file is not an SQLite database, is damaged, or holds no Tani Hub registry."""


class NewerBackup(BackupError):
    """The backup was made by a newer Tani Hub (an Alembic revision this code does not know)."""


class RestoreRefused(BackupError):
    """The restore would overwrite a registry and was not forced."""


class RegistryInUse(RestoreRefused):
    """Another program (api, alerts, ingest) has the registry open."""


# -- names ---------------------------------------------------------------------------------------


def free_name(directory: Path, stem: str, suffix: str) -> Path:
    """``stem + suffix`` in ``directory``, or ``stem-2 + suffix`` and so on if that is taken."""
    # Two backups (or restores) in the same second must not replace each other's file.
    candidate, n = directory / f"{stem}{suffix}", 1
    while candidate.exists():
        n += 1
        candidate = directory / f"{stem}-{n}{suffix}"
    return candidate


def temp_beside(path: Path, suffix: str) -> Path:
    """A new empty file, readable by its owner only, in the directory of ``path``."""
    # Same directory, so the final rename is atomic; mkstemp's 0600 suits a file holding
    # password hashes and notification secrets.
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


def sqlite_uri(path: Path, mode: str) -> str:
    """An SQLite URI opening ``path`` with ``mode`` (ro or rw)."""
    # mode=rw/ro never creates a missing file, as a plain connect would.
    return f"file:{quote(str(path.absolute()))}?mode={mode}"


# -- copy and check ------------------------------------------------------------------------------


def copy_database(source_uri: str, dest: Path) -> None:
    """Copy a live database into ``dest`` as one snapshot, in rollback-journal mode."""
    with (
        closing(sqlite3.connect(source_uri, uri=True, timeout=BUSY_TIMEOUT_S)) as src,
        closing(sqlite3.connect(dest, isolation_level=None)) as out,
    ):
        # All pages in one step: one read transaction, hence one snapshot. In steps, every
        # write by the services in between would restart the copy.
        src.backup(out)
        # The copy inherits WAL mode; a backup must be one self-contained file.
        out.execute("PRAGMA journal_mode=DELETE").fetchone()


def check_header(path: Path) -> None:
    """Raise NotARegistryBackup unless ``path`` starts like an SQLite database."""
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise NotARegistryBackup(f"Cadangan tidak terbaca / cannot read {path}: {exc}") from exc
    # An empty file would open as an empty database: say what it is instead.
    if header != SQLITE_HEADER:
        raise NotARegistryBackup(
            f"Bukan berkas SQLite / {path} is not an SQLite database: give a file made by "
            "tani backup"
        )


def verify(path: Path, name: Path | None = None) -> tuple[str | None, dict[str, int]]:
    """(Alembic revision, rows per table) of an SQLite copy, after its integrity check."""
    name = name or path
    try:
        with closing(sqlite3.connect(sqlite_uri(path, "ro"), uri=True)) as db:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check(5)")]
            tables = [
                row[0]
                for row in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )
            ]
            revision = None
            if "alembic_version" in tables:
                row = db.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = None if row is None else str(row[0])
            counts = {
                table: int(db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
                for table in tables
                if table != "alembic_version"
            }
    except sqlite3.DatabaseError as exc:
        raise NotARegistryBackup(f"Cadangan rusak / {name} is damaged ({exc})") from exc
    if problems != ["ok"]:
        raise NotARegistryBackup(
            f"Cadangan rusak / {name} failed its integrity check: {'; '.join(problems)}"
        )
    if "villages" not in counts:
        raise NotARegistryBackup(
            f"Bukan registry Tani Hub / {name} is an SQLite database but not a Tani Hub registry"
        )
    return revision, counts


# -- swap ----------------------------------------------------------------------------------------


def swap_in(new: Path, target: Path, stamp: str) -> Path | None:
    """Rename ``new`` over ``target``; the old database's new name, or None if there was none."""
    if not target.exists():
        _remove_sidecars(target)
        os.replace(new, target)
        fsync(target.parent)
        return None
    previous = free_name(target.parent, f"{target.name}.before-restore-{stamp}", "")
    with _held_alone(target):
        try:
            # A second name for the old file: instant and exact. Some filesystems (FAT on a
            # USB stick) have no hard links; a copy is as good, made under the lock.
            os.link(target, previous)
        except OSError:
            shutil.copy2(target, previous)
        # A -wal left next to the new file would be replayed into it and corrupt it.
        _remove_sidecars(target)
        os.replace(new, target)
    fsync(target.parent)
    return previous


@contextmanager
def _held_alone(target: Path) -> Iterator[None]:
    """Hold the registry exclusively, or raise RegistryInUse if another program has it open."""
    in_use = RegistryInUse(
        f"Registry {target} sedang dipakai / is open in another program: stop tani api, "
        "tani alerts and tani ingest (their services, or Ctrl-C), then restore again"
    )
    with closing(sqlite3.connect(target, timeout=LOCK_WAIT_S, isolation_level=None)) as db:
        try:
            # Leaving WAL mode needs the only connection: every open one (even an idle pool
            # connection of the API) holds a shared lock on the file in WAL mode. It also
            # folds a leftover -wal into the file, so the kept copy is complete.
            mode = db.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
            if mode != "delete":
                raise in_use
            db.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise in_use from exc
        except sqlite3.DatabaseError:
            pass  # a damaged registry, the very reason for restoring: nobody can use it anyway
        yield


def _remove_sidecars(target: Path) -> None:
    for suffix in _SIDECARS:
        Path(f"{target}{suffix}").unlink(missing_ok=True)


def copy_owner(old: Path, new: Path) -> None:
    """Give ``new`` the permissions (and, where allowed, the owner) of ``old``."""
    # The services may run as their own user: the restored file keeps the old one's mode
    # and, where allowed (root), its owner.
    shutil.copymode(old, new)
    stat = old.stat()
    with suppress(PermissionError):
        os.chown(new, stat.st_uid, stat.st_gid)


def fsync(path: Path) -> None:
    """Flush a file's (or a directory's) contents to disk."""
    # The rename is durable only once the file's data and then its directory entry are.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

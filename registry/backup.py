"""Backing up and restoring the registry: places, people, alert rules and alert state.

SQLite (the default): ``backup`` copies the live file with SQLite's online backup API in one
step, so the copy is one consistent snapshot even while the API, alerts and ingest write to it
in WAL mode, and it includes what is committed but still only in the ``-wal`` file. The copy is
written under a temporary name, checked (``PRAGMA integrity_check``, Alembic revision) and only
then renamed into place, so a backup file either is whole and verified or does not exist.

``restore`` checks a backup the same way, upgrades an older one with ``registry.migrate``,
refuses one made by a newer Tani Hub, refuses while another program has the registry open, and
keeps the database it replaces as ``<name>.before-restore-<stamp>`` so a restore can be undone.

PostgreSQL: ``pg_dump`` / ``pg_restore`` do this properly; the error says the exact commands.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import URL, create_engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from registry import migrate
from registry.backup_files import (
    BackupError,
    NewerBackup,
    NotARegistryBackup,
    RegistryInUse,
    RestoreRefused,
    UnsupportedDatabase,
    check_header,
    copy_database,
    copy_owner,
    free_name,
    fsync,
    sqlite_uri,
    swap_in,
    temp_beside,
    verify,
)
from registry.store import Registry

__all__ = [
    "BackupError",
    "BackupInfo",
    "NewerBackup",
    "NotARegistryBackup",
    "RegistryInUse",
    "RestoreInfo",
    "RestoreRefused",
    "UnsupportedDatabase",
    "backup",
    "known_revisions",
    "postgres_commands",
    "restore",
]

BACKUP_PREFIX = "tani-registry-"
BACKUP_SUFFIX = ".sqlite3"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class BackupInfo:
    """A verified backup file and what is in it."""

    path: Path
    source: Path
    revision: str | None
    tables: dict[str, int]  # rows per table
    size_bytes: int
    created: str  # ISO 8601, UTC

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {**self.__dict__, "path": str(self.path), "source": str(self.source)}


@dataclass(frozen=True)
class RestoreInfo:
    """A finished restore: what came back, at which revision, and where the old database is."""

    target: Path
    source: Path
    backup_revision: str | None  # as made; None: before Alembic (walking skeleton)
    revision: str  # after upgrading
    previous: Path | None  # the replaced database, None if there was none
    tables: dict[str, int] = field(default_factory=dict)

    @property
    def upgraded(self) -> bool:
        """Whether the backup was older than this code and was migrated."""
        return self.backup_revision != self.revision

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {
            **self.__dict__,
            "target": str(self.target),
            "source": str(self.source),
            "previous": None if self.previous is None else str(self.previous),
            "upgraded": self.upgraded,
        }


def backup(source: str | Path | Registry, dest: Path, *, now: datetime | None = None) -> BackupInfo:
    """Copy the registry to ``dest`` (a ``.sqlite3`` file, or a directory for a stamped file).

    ``source`` is a registry URL, an SQLite file path or an open Registry. Safe while the
    services run. An existing file of that name is replaced only by a verified copy. Raises
    BackupError (UnsupportedDatabase for PostgreSQL).
    """
    path = _sqlite_path(source)
    if not path.is_file():
        raise BackupError(
            f"Registry tidak ditemukan / no registry at {path}: check --registry-url "
            "or TANI_REGISTRY_URL"
        )
    created = now or datetime.now(UTC)
    final = _destination(Path(dest), created.strftime(STAMP_FORMAT))
    if final.resolve() == path.resolve():
        raise BackupError(
            f"Cadangan tidak boleh menimpa registry / the backup would overwrite the registry "
            f"itself ({path}): give another file or a directory"
        )
    tmp = temp_beside(final, ".partial")
    try:
        try:
            copy_database(sqlite_uri(path, "rw"), tmp)
        except sqlite3.Error as exc:
            raise BackupError(
                f"Registry tidak terbaca / cannot read the registry {path}: {exc}"
            ) from exc
        try:
            revision, tables = verify(tmp)
        except NotARegistryBackup as exc:
            raise BackupError(
                f"Salinan gagal diperiksa / the copy failed its check ({exc}); the registry "
                f"{path} itself may be damaged: keep your older backups"
            ) from exc
        fsync(tmp)
        os.replace(tmp, final)
        fsync(final.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return BackupInfo(
        path=final,
        source=path,
        revision=revision,
        tables=tables,
        size_bytes=final.stat().st_size,
        created=created.isoformat(timespec="seconds"),
    )


def restore(
    src: Path, url: str | Path, *, force: bool = False, now: datetime | None = None
) -> RestoreInfo:
    """Put the backup ``src`` in place of the registry at ``url``, upgrading an older one.

    Stop api, alerts and ingest first: a registry another program has open is refused
    (RegistryInUse), and so is overwriting one without ``force`` (RestoreRefused). The
    replaced database is kept as ``<name>.before-restore-<stamp>``.
    """
    target = _sqlite_path(url)
    src = Path(src)
    check_header(src)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(target, ".restoring")
    try:
        try:
            copy_database(sqlite_uri(src, "ro"), tmp)
        except sqlite3.Error as exc:
            raise NotARegistryBackup(
                f"Cadangan rusak / {src} is damaged or not an SQLite database ({exc})"
            ) from exc
        backup_revision, _ = verify(tmp, name=src)
        _check_revision(backup_revision, src)
        if target.exists() and not force:
            raise RestoreRefused(
                f"Registry {target} sudah ada / already exists. Stop api, alerts and ingest, "
                "then restore again with --force; the current one is kept as "
                f"{target.name}.before-restore-<time>"
            )
        head = migrate.head_revision()
        if backup_revision != head:
            _upgrade(tmp, src)
        _, tables = verify(tmp, name=src)
        if target.exists():
            copy_owner(target, tmp)
        fsync(tmp)
        stamp = (now or datetime.now(UTC)).strftime(STAMP_FORMAT)
        previous = swap_in(tmp, target, stamp)
    finally:
        tmp.unlink(missing_ok=True)
    return RestoreInfo(target, src, backup_revision, head, previous, tables)


def postgres_commands(url: URL) -> tuple[str, str]:
    """The ``pg_dump`` and ``pg_restore`` commands for a PostgreSQL registry URL."""
    # libpq takes a postgresql:// URI but not SQLAlchemy's "+driver"; the password stays out
    # of shell history and of this message (PGPASSWORD or ~/.pgpass give it).
    libpq = URL.create(
        "postgresql", url.username, None, url.host, url.port, url.database, url.query
    ).render_as_string(hide_password=False)
    dump_file = f"{BACKUP_PREFIX}$(date -u +{STAMP_FORMAT}).dump"
    dump = f"pg_dump --format=custom --file={dump_file} '{libpq}'"
    restore_cmd = (
        "pg_restore --clean --if-exists --no-owner --single-transaction "
        f"--dbname='{libpq}' {BACKUP_PREFIX}YYYYmmddTHHMMSSZ.dump"
    )
    return dump, restore_cmd


def known_revisions() -> set[str]:
    """Every Alembic revision this code's migrations know."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return {revision.revision for revision in script.walk_revisions()}


# -- where ---------------------------------------------------------------------------------------


def _sqlite_path(source: str | Path | Registry) -> Path:
    if isinstance(source, Path):
        return source
    if isinstance(source, Registry):
        url = source.engine.url
    else:
        try:
            url = make_url(source)
        except ArgumentError as exc:
            raise BackupError(f"URL registry tidak valid / invalid registry URL: {source}") from exc
    backend = url.get_backend_name()
    if backend == "postgresql":
        dump, restore_cmd = postgres_commands(url)
        raise UnsupportedDatabase(
            "Registry PostgreSQL dicadangkan dengan pg_dump / a PostgreSQL registry is backed "
            "up with PostgreSQL's own tools (tani does not run them):\n"
            f"  backup:  {dump}\n"
            f"  restore (api, alerts and ingest stopped):\n  {restore_cmd}\n"
            "  password: PGPASSWORD or ~/.pgpass"
        )
    if backend != "sqlite":
        raise UnsupportedDatabase(
            f"Basis data '{backend}' tidak didukung / tani backs up SQLite registries only; "
            f"use {backend}'s own backup tools"
        )
    if url.database in (None, "", ":memory:"):
        raise UnsupportedDatabase(
            "Registry di memori tidak bisa dicadangkan / an in-memory registry has no file to "
            "back up"
        )
    return Path(url.database)  # type: ignore[arg-type]


def _destination(dest: Path, stamp: str) -> Path:
    if dest.is_dir() or (not dest.exists() and dest.suffix == ""):
        dest.mkdir(parents=True, exist_ok=True)
        return free_name(dest, f"{BACKUP_PREFIX}{stamp}", BACKUP_SUFFIX)
    if dest.suffix != BACKUP_SUFFIX:
        raise BackupError(
            f"Beri nama berakhiran {BACKUP_SUFFIX} atau sebuah folder / name the backup file "
            f"*{BACKUP_SUFFIX} or give a directory (got {dest})"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest


def _check_revision(revision: str | None, src: Path) -> None:
    # None is the walking skeleton's schema, which migrate.upgrade knows how to bring up.
    if revision is not None and revision not in known_revisions():
        raise NewerBackup(
            f"Cadangan {src} dibuat oleh Tani Hub yang lebih baru (revisi {revision}; versi ini "
            f"sampai {migrate.head_revision()}) / made by a newer Tani Hub version: restore "
            "with the newer Tani Hub version"
        )


def _upgrade(path: Path, src: Path) -> None:
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    try:
        migrate.upgrade(engine)
    except SQLAlchemyError as exc:
        raise BackupError(
            f"Cadangan {src} tidak bisa dimutakhirkan / could not upgrade it to this version's "
            f"schema ({exc}); the registry was not changed"
        ) from exc
    finally:
        engine.dispose()

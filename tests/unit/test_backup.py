"""``tani backup`` / ``tani restore``: the registry and alert state to a file and back, in use."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from click.testing import Result
from sqlalchemy import create_engine, delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from alerts.default_rules import DEFAULT_RULES, install_defaults
from registry import migrate
from registry.alerting import Alert, AlertEvent, AlertRule
from registry.backup import (
    NewerBackup,
    NotARegistryBackup,
    RegistryInUse,
    RestoreRefused,
    UnsupportedDatabase,
    backup,
    restore,
)
from registry.directory import (
    ChannelIn,
    DeviceIn,
    FieldIn,
    GatewayIn,
    UserIn,
    VillageIn,
    add_channel,
    create_user,
    upsert_device,
    upsert_field,
    upsert_gateway,
    upsert_village,
)
from registry.models import Village
from registry.people import User
from registry.store import Registry
from tani.cli import app

NOW_MS = 1_790_000_000_000
TG = "tgram://123456789:AAHsecretBotToken/-100123"
STAMPED = re.compile(r"^tani-registry-\d{8}T\d{6}Z\.sqlite3$")


def _fill(session: Session) -> None:
    upsert_village(session, VillageIn(id="bumi-agung", name="Bumi Agung", district="Way Kanan"))
    upsert_village(session, VillageIn(id="tiyuh-baru", name="Tiyuh Baru"))
    create_user(
        session,
        UserIn(username="darto", full_name="Pak Darto", role="farmer", village_id="bumi-agung"),
        "padi-menguning",
        NOW_MS,
    )
    officer = UserIn(
        username="ppl-sari", full_name="Bu Sari", role="officer", villages=["bumi-agung"]
    )
    create_user(session, officer, None, NOW_MS)
    upsert_field(
        session,
        FieldIn(
            id="sawah-darto",
            name="Sawah Pak Darto",
            village_id="bumi-agung",
            crop="padi",
            owner="darto",
            planted_on=date(2026, 10, 1),
            latitude=-4.52,
            longitude=104.48,
        ),
    )
    upsert_gateway(session, GatewayIn(id="pi-balai", name="Pi balai desa", village_id="bumi-agung"))
    upsert_device(
        session,
        DeviceIn(gateway_id="pi-balai", id="soil-1", kind="modbus_soil", field_id="sawah-darto"),
    )
    add_channel(session, ChannelIn(name="telegram darto", url=TG, user="darto"))
    install_defaults(session)
    rule = session.scalars(select(AlertRule).order_by(AlertRule.id)).first()
    assert rule is not None
    alert = Alert(
        rule_id=rule.id,
        rule_name=rule.name,
        kind=rule.kind,
        severity=rule.severity,
        subject="pi-balai/soil-1/soil_moisture",
        gateway_id="pi-balai",
        device_id="soil-1",
        quantity=rule.quantity,
        field_id="sawah-darto",
        village_id="bumi-agung",
        since_ms=NOW_MS - 3_600_000,
        opened_ms=NOW_MS,
        value=12.5,
        threshold=rule.threshold,
    )
    session.add(alert)
    session.flush()
    session.add(AlertEvent(alert_id=alert.id, time_ms=NOW_MS, kind="opened"))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A filled SQLite registry file, closed."""
    path = tmp_path / "state" / "registry.sqlite3"
    registry = Registry.from_path(path)
    try:
        with Session(registry.engine) as session, session.begin():
            _fill(session)
    finally:
        registry.close()
    return path


def url_of(path: Path) -> str:
    """The SQLAlchemy URL of an SQLite file."""
    return f"sqlite:///{path}"


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (alembic_version too), in a stable order."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        tables = [
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            table: sorted(db.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
            for table in tables
        }


def _change_everything(path: Path) -> None:
    """What an operator's mistake might do: delete alerts, rules and users, rename, add."""
    registry = Registry.from_path(path)
    try:
        with Session(registry.engine) as session, session.begin():
            session.execute(delete(Alert))
            session.execute(delete(AlertRule).where(AlertRule.severity == "warning"))
            session.execute(delete(User).where(User.username == "ppl-sari"))
            session.execute(update(Village).values(name="Salah Ketik"))
            upsert_village(session, VillageIn(id="desa-baru", name="Desa Baru"))
    finally:
        registry.close()


def _leftovers(directory: Path) -> list[str]:
    """Temporary files (hidden) left in a directory."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def _beside(site: Path) -> list[str]:
    """Files next to the registry other than its own (-wal, -shm: reading it in WAL mode)."""
    own = {site.name, f"{site.name}-wal", f"{site.name}-shm"}
    return sorted(p.name for p in site.parent.iterdir() if p.name not in own)


# -- backup --------------------------------------------------------------------------------------


def test_round_trip_brings_every_row_back(site: Path, tmp_path: Path) -> None:
    before = dump(site)
    info = backup(url_of(site), tmp_path / "cadangan")

    assert info.path.parent == tmp_path / "cadangan"
    assert STAMPED.match(info.path.name), info.path.name
    assert info.revision == migrate.head_revision()
    assert info.tables["villages"] == 2
    assert info.tables["users"] == 2
    assert info.tables["alert_rules"] == len(DEFAULT_RULES)
    assert info.tables["alerts"] == info.tables["alert_events"] == 1
    assert info.tables["channels"] == info.tables["devices"] == 1
    assert info.size_bytes == info.path.stat().st_size
    assert dump(info.path) == before
    assert _leftovers(info.path.parent) == []  # no temporary file left behind

    _change_everything(site)
    changed = dump(site)
    assert changed != before

    result = restore(info.path, url_of(site), force=True)
    assert dump(site) == before
    assert not result.upgraded
    assert result.tables == info.tables
    # The replaced database is kept, exactly as it was, so the restore can be undone.
    assert result.previous is not None
    assert result.previous.name.startswith("registry.sqlite3.before-restore-")
    assert dump(result.previous) == changed
    assert _leftovers(site.parent) == []

    undo = restore(result.previous, url_of(site), force=True)
    assert dump(site) == changed
    assert undo.previous is not None and undo.previous != result.previous

    # The services open the restored file as usual (WAL mode again, current schema).
    registry = Registry.from_path(site)
    try:
        assert migrate.current_revision(registry.engine) == migrate.head_revision()
        assert registry.field("sawah-darto") is not None
    finally:
        registry.close()


def test_backup_to_a_named_file_and_two_in_one_second(site: Path, tmp_path: Path) -> None:
    named = backup(url_of(site), tmp_path / "out" / "registry-hari-ini.sqlite3")
    assert named.path == tmp_path / "out" / "registry-hari-ini.sqlite3"
    assert dump(named.path) == dump(site)

    now = datetime(2026, 11, 24, 1, 2, 3, tzinfo=UTC)
    first = backup(site, tmp_path / "out", now=now)
    second = backup(site, tmp_path / "out", now=now)
    assert first.path.name == "tani-registry-20261124T010203Z.sqlite3"
    assert second.path.name == "tani-registry-20261124T010203Z-2.sqlite3"
    assert first.created == "2026-11-24T01:02:03+00:00"


def test_backup_while_another_connection_holds_a_write_transaction(
    site: Path, tmp_path: Path
) -> None:
    registry = Registry.from_path(site)  # WAL mode, as the services run it
    writer = sqlite3.connect(site, isolation_level=None)
    try:
        # Committed but only in the -wal file: a plain copy of the main file would miss it.
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("INSERT INTO villages (id, name) VALUES ('dalam-wal', 'Dalam WAL')")
        assert Path(f"{site}-wal").stat().st_size > 0
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO villages (id, name) VALUES ('belum-commit', 'Belum')")

        started = time.monotonic()
        info = backup(registry, tmp_path / "saat-menulis.sqlite3")
        assert time.monotonic() - started < 5  # it did not wait for the writer's lock

        copied = {row[0] for row in dump(info.path)["villages"]}
        assert copied == {"bumi-agung", "tiyuh-baru", "dalam-wal"}
        assert info.tables["villages"] == 3
        writer.execute("COMMIT")
    finally:
        writer.close()
        registry.close()
    assert {row[0] for row in dump(site)["villages"]} >= {"dalam-wal", "belum-commit"}


@pytest.fixture
def busy_writer(site: Path) -> Iterator[threading.Event]:
    """A thread adding a village and its field in one transaction, again and again.

    Yields an event set once the first pair is committed.
    """
    stop, wrote = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with closing(sqlite3.connect(site, isolation_level=None, timeout=10)) as db:
                n = 0
                while not stop.is_set():
                    n += 1
                    db.execute("BEGIN IMMEDIATE")
                    db.execute("INSERT INTO villages (id, name) VALUES (?, 'v')", (f"v{n}",))
                    db.execute(
                        "INSERT INTO fields (id, name, village_id) VALUES (?, 'f', ?)",
                        (f"f{n}", f"v{n}"),
                    )
                    db.execute("COMMIT")
                    wrote.set()
        except BaseException as exc:  # the test must see a failing writer
            errors.append(exc)
            wrote.set()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        yield wrote
    finally:
        stop.set()
        thread.join()
    assert errors == []


def test_backups_during_steady_writes_are_consistent_snapshots(
    site: Path, tmp_path: Path, busy_writer: threading.Event
) -> None:
    assert busy_writer.wait(10), "the writer never committed"
    counts = []
    for i in range(3):
        info = backup(site, tmp_path / f"b{i}.sqlite3")
        # Each village came with its field in one transaction: a copy has both or neither.
        assert info.tables["villages"] - 2 == info.tables["fields"] - 1
        assert len(dump(info.path)["villages"]) == info.tables["villages"]
        counts.append(info.tables["fields"])
    assert counts[0] > 1  # the writer's rows are in the copies
    assert counts == sorted(counts)


def test_backup_refusals(site: Path, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no registry at"):
        backup(url_of(tmp_path / "tidak-ada.sqlite3"), tmp_path / "out")
    with pytest.raises(Exception, match=r"\*\.sqlite3 or give a directory"):
        backup(site, tmp_path / "cadangan.zip")
    with pytest.raises(Exception, match="overwrite the registry itself"):
        backup(site, site)
    with pytest.raises(UnsupportedDatabase, match="in-memory"):
        backup("sqlite://", tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_postgresql_gets_the_pg_dump_and_pg_restore_commands(tmp_path: Path) -> None:
    url = "postgresql+psycopg://tani:rahasia@db.desa:5432/tani?sslmode=require"
    with pytest.raises(UnsupportedDatabase) as dumped:
        backup(url, tmp_path)
    message = str(dumped.value)
    assert "pg_dump --format=custom" in message
    assert "'postgresql://tani@db.desa:5432/tani?sslmode=require'" in message
    assert "rahasia" not in message
    with pytest.raises(UnsupportedDatabase, match="pg_restore --clean"):
        restore(tmp_path / "x.sqlite3", url)


# -- restore -------------------------------------------------------------------------------------


def test_restore_refuses_to_overwrite_without_force(site: Path, tmp_path: Path) -> None:
    info = backup(site, tmp_path / "b.sqlite3")
    _change_everything(site)
    changed = dump(site)
    with pytest.raises(RestoreRefused, match="--force"):
        restore(info.path, url_of(site))
    assert dump(site) == changed
    assert _beside(site) == []


def test_restore_into_an_empty_place(site: Path, tmp_path: Path) -> None:
    info = backup(site, tmp_path / "b.sqlite3")
    target = tmp_path / "baru" / "registry.sqlite3"
    result = restore(info.path, url_of(target))
    assert result.previous is None
    assert dump(target) == dump(site)


def test_restore_refuses_while_the_registry_is_open(site: Path, tmp_path: Path) -> None:
    info = backup(site, tmp_path / "b.sqlite3")
    _change_everything(site)
    changed = dump(site)
    registry = Registry.from_path(site)  # an API process with an idle pooled connection
    try:
        registry.field("sawah-darto")
        with pytest.raises(RegistryInUse, match="stop tani api"):
            restore(info.path, url_of(site), force=True)
    finally:
        registry.close()
    assert dump(site) == changed
    assert _beside(site) == []
    restore(info.path, url_of(site), force=True)  # once it is stopped
    assert dump(site) == dump(info.path)


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[4096:-4096] = b"\xa5" * (len(data) - 8192)  # every page but the first and last
    path.write_bytes(bytes(data))


def _foreign(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE contacts (name TEXT)")
        db.commit()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("bukan database\n" * 100), "not an SQLite database"),
        (lambda p: p.write_bytes(b""), "not an SQLite database"),
        (_corrupt, "damaged|integrity check"),
        (_foreign, "not a Tani Hub registry"),
    ],
    ids=["text", "empty", "corrupt", "other-database"],
)
def test_restore_refuses_a_bad_file(site: Path, tmp_path: Path, make: Any, message: str) -> None:
    bad = tmp_path / "bad.sqlite3"
    if make is _corrupt:
        backup(site, bad)
    make(bad)
    before = dump(site)
    with pytest.raises(NotARegistryBackup, match=message):
        restore(bad, url_of(site), force=True)
    assert dump(site) == before
    assert _beside(site) == []


def test_restore_refuses_a_backup_from_a_newer_version(site: Path, tmp_path: Path) -> None:
    info = backup(site, tmp_path / "b.sqlite3")
    with closing(sqlite3.connect(info.path)) as db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
        db.commit()
    before = dump(site)
    with pytest.raises(NewerBackup, match="restore with the newer Tani Hub version"):
        restore(info.path, url_of(site), force=True)
    assert dump(site) == before


def test_restore_upgrades_an_older_backup(tmp_path: Path) -> None:
    old = tmp_path / "lama.sqlite3"
    engine = create_engine(url_of(old), poolclass=NullPool)
    try:
        with engine.connect() as connection, connection.begin():
            command.upgrade(migrate.alembic_config(connection), "0001")
            connection.exec_driver_sql("INSERT INTO villages (id, name) VALUES ('lama', 'Lama')")
    finally:
        engine.dispose()
    assert migrate.head_revision() != "0001"

    target = tmp_path / "state" / "registry.sqlite3"
    result = restore(old, url_of(target))
    assert (result.backup_revision, result.revision) == ("0001", migrate.head_revision())
    assert result.upgraded
    rows = dump(target)
    assert rows["alembic_version"] == [(migrate.head_revision(),)]
    assert rows["villages"][0][:2] == ("lama", "Lama")
    assert "alert_rules" in rows
    assert dump(old)["alembic_version"] == [("0001",)]  # the backup itself is not touched


def test_restore_replaces_a_damaged_registry_and_its_stale_wal(site: Path, tmp_path: Path) -> None:
    info = backup(site, tmp_path / "b.sqlite3")
    site.write_bytes(b"\x00" * 8192)  # a registry lost to a bad SD card
    Path(f"{site}-wal").write_bytes(b"\x37\x7f\x06\x82" + b"\x01" * 4000)
    Path(f"{site}-shm").write_bytes(b"\x02" * 32768)

    result = restore(info.path, url_of(site), force=True)
    assert not Path(f"{site}-wal").exists()
    assert not Path(f"{site}-shm").exists()
    assert result.previous is not None
    assert result.previous.read_bytes() == b"\x00" * 8192
    assert dump(site) == dump(info.path)


# -- commands ------------------------------------------------------------------------------------


def tani(url: str, *args: str) -> Result:
    """Run the backup commands with the registry at ``url``."""
    env = {"TANI_REGISTRY_URL": url, "TANI_INFLUX_RPC_PORT": "8088"}
    return CliRunner().invoke(app, list(args), env=env)


def test_commands_back_up_and_restore(site: Path, tmp_path: Path) -> None:
    before = dump(site)
    shown = tani(url_of(site), "backup", str(tmp_path / "cadangan"))
    assert shown.exit_code == 0, shown.output
    assert "registry backed up" in shown.stdout
    assert "influxd backup -portable -host 127.0.0.1:8088 " in shown.stdout
    assert "influx backup " in shown.stdout and "-t TOKEN" in shown.stdout

    made = tani(url_of(site), "backup", str(tmp_path / "json"), "--json")
    assert made.exit_code == 0, made.output
    out = json.loads(made.stdout)
    assert STAMPED.match(Path(out["path"]).name)
    assert out["revision"] == migrate.head_revision()
    assert out["tables"]["alerts"] == 1
    stamp = Path(out["path"]).name.removeprefix("tani-registry-").removesuffix(".sqlite3")
    assert out["influxdb"]["1.x backup"] == (
        f"influxd backup -portable -host 127.0.0.1:8088 {tmp_path / 'json'}/influxdb-{stamp}"
    )

    _change_everything(site)
    refused = tani(url_of(site), "restore", out["path"])
    assert refused.exit_code == 2
    assert "--force" in refused.stderr
    assert "stop tani api, tani alerts and tani ingest first" in refused.stderr
    assert dump(site) != before

    done = tani(url_of(site), "restore", out["path"], "--force")
    assert done.exit_code == 0, done.output
    assert "registry restored" in done.stdout
    assert "before-restore-" in done.stdout
    assert dump(site) == before

    again = tani(url_of(site), "restore", out["path"], "--force", "--json")
    assert again.exit_code == 0, again.output
    result = json.loads(again.stdout)
    assert result["upgraded"] is False
    assert Path(result["previous"]).exists()


def test_commands_say_why_they_refuse(tmp_path: Path) -> None:
    missing = tani(url_of(tmp_path / "tidak-ada.sqlite3"), "backup", str(tmp_path))
    assert missing.exit_code == 2
    assert "no registry at" in missing.stderr
    junk = tmp_path / "junk.sqlite3"
    junk.write_text("halo")
    bad = tani(url_of(tmp_path / "r.sqlite3"), "restore", str(junk))
    assert bad.exit_code == 2
    assert "not an SQLite database" in bad.stderr
    pg = tani("postgresql://tani@localhost/tani", "backup", str(tmp_path))
    assert pg.exit_code == 2
    assert "pg_dump" in pg.stderr

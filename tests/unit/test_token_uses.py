"""Token uses noted per request reach the registry later, in one transaction, even after a
failed write, and when the API stops."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import api.token_uses
from api.token_uses import TokenUses
from registry.access import issue_token
from registry.directory import UserIn, create_user
from registry.people import ApiToken, User
from registry.store import Registry

NOW = 1_760_000_000_000


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    registry = Registry.from_path(tmp_path / "registry.db")
    try:
        yield registry
    finally:
        registry.close()


def _token(registry: Registry, username: str) -> str:
    with Session(registry.engine) as session, session.begin():
        create_user(session, UserIn(username=username, full_name=username, role="admin"), None, NOW)
        user = session.scalars(select(User).where(User.username == username)).one()
        return issue_token(session, user, label="hp", now_ms=NOW)


def _last_uses(registry: Registry) -> list[int | None]:
    with Session(registry.engine) as session:
        return sorted(session.scalars(select(ApiToken.last_used_ms)), key=str)


def test_a_failed_write_is_logged_and_its_uses_written_with_the_next(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = _token(registry, "budi"), _token(registry, "siti")
    uses = TokenUses(registry)
    uses.note(first, NOW + 1_000)
    real = api.token_uses.record_token_uses

    def locked(session: Session, noted: dict[str, int]) -> None:
        raise OperationalError("UPDATE api_tokens", {}, Exception("database is locked"))

    monkeypatch.setattr(api.token_uses, "record_token_uses", locked)
    with caplog.at_level(logging.WARNING):
        assert uses.write() == 0
    assert "trying again later" in caplog.text
    assert _last_uses(registry) == [None, None]

    monkeypatch.setattr(api.token_uses, "record_token_uses", real)
    uses.note(second, NOW + 2_000)
    assert uses.write() == 2
    assert _last_uses(registry) == [NOW + 1_000, NOW + 2_000]


def test_what_was_noted_is_written_when_the_writer_stops(registry: Registry) -> None:
    token = _token(registry, "budi")
    uses = TokenUses(registry)
    uses.note(token, NOW + 5)
    stop = threading.Event()
    stop.set()
    uses.write_every(stop, every_s=3600)
    assert _last_uses(registry) == [NOW + 5]

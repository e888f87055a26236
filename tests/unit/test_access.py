"""registry.access: password hashing and rehashing, token life, and what each role may see."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, extract_parameters, profiles
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import access
from registry.access import (
    PASSWORD_PROFILE,
    TOKEN_PREFIX,
    AuthenticationError,
    Principal,
    check_password,
    hash_password,
    issue_token,
    principal_for,
    principal_for_token,
    record_token_uses,
    revoke_token,
)
from registry.directory import (
    FieldIn,
    UserIn,
    VillageIn,
    create_user,
    deactivate_user,
    upsert_field,
    upsert_village,
)
from registry.people import ApiToken, Role, User
from registry.store import Registry

PASSWORD = "padi-menguning"
NOW = 1_760_000_000_000


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """Two villages; an admin, an officer of v1, the office of v1, farmers in v1 and v2."""
    registry = Registry.from_path(tmp_path / "registry.db")
    try:
        with Session(registry.engine) as session:
            for vid in ("v1", "v2"):
                upsert_village(session, VillageIn(id=vid, name=vid.upper()))
            people = {
                "admin": {"role": "admin"},
                "ppl": {"role": "officer", "villages": ["v1"]},
                "desa1": {"role": "village_office", "village_id": "v1"},
                "budi": {"role": "farmer", "village_id": "v1"},
                "siti": {"role": "farmer", "village_id": "v2"},
            }
            for username, extra in people.items():
                data = UserIn.model_validate({"username": username, "full_name": username} | extra)
                create_user(session, data, PASSWORD if username == "budi" else None, NOW)
            upsert_field(session, FieldIn(id="sawah-budi", name="S", village_id="v1", owner="budi"))
            upsert_field(session, FieldIn(id="ladang-v1", name="L", village_id="v1"))
            upsert_field(session, FieldIn(id="sawah-siti", name="S", village_id="v2", owner="siti"))
            yield session
    finally:
        registry.close()


def _user(session: Session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def _principal(session: Session, username: str) -> Principal:
    return principal_for(session, _user(session, username))


# -- passwords -----------------------------------------------------------------------------------


def test_passwords_are_argon2id_hashes_and_short_ones_are_refused() -> None:
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert hash_password(PASSWORD) != hashed  # salted
    with pytest.raises(ValueError, match="at least 8"):
        hash_password("pendek")


def test_check_password_accepts_the_right_one_only(session: Session) -> None:
    assert check_password(session, "budi", PASSWORD).username == "budi"
    for username, password in (("budi", "salah-sekali"), ("nobody", PASSWORD), ("siti", PASSWORD)):
        # siti has no password: only tokens an admin issues her work.
        with pytest.raises(AuthenticationError, match="wrong username or password"):
            check_password(session, username, password)


def test_a_deactivated_person_cannot_sign_in(session: Session) -> None:
    deactivate_user(session, "budi")
    with pytest.raises(AuthenticationError):
        check_password(session, "budi", PASSWORD)


@pytest.fixture
def real_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service's own hasher, not the session's cheap one (tests/conftest.py)."""
    monkeypatch.setattr(access, "_hasher", PasswordHasher.from_parameters(PASSWORD_PROFILE))


@pytest.mark.usefixtures("real_password_hashing")
def test_stored_hashes_use_rfc_9106_low_memory() -> None:
    assert PASSWORD_PROFILE == profiles.RFC_9106_LOW_MEMORY
    assert extract_parameters(hash_password(PASSWORD)) == profiles.RFC_9106_LOW_MEMORY
    assert not PasswordHasher().check_needs_rehash(hash_password(PASSWORD))


@pytest.mark.usefixtures("real_password_hashing")
def test_a_hash_with_old_parameters_is_replaced_at_the_next_sign_in(session: Session) -> None:
    budi = _user(session, "budi")
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    budi.password_hash = weak
    check_password(session, "budi", PASSWORD)
    assert budi.password_hash != weak
    assert extract_parameters(budi.password_hash) == profiles.RFC_9106_LOW_MEMORY
    assert check_password(session, "budi", PASSWORD) is budi


# -- tokens --------------------------------------------------------------------------------------


def test_a_token_is_random_shown_once_and_stored_only_as_its_hash(session: Session) -> None:
    budi = _user(session, "budi")
    first = issue_token(session, budi, label="hp", now_ms=NOW)
    second = issue_token(session, budi, label="hp", now_ms=NOW)
    assert first.startswith(TOKEN_PREFIX) and first != second
    assert len(first) > len(TOKEN_PREFIX) + 40
    stored = session.scalars(select(ApiToken.token_sha256)).all()
    assert first not in stored and len(stored) == 2


def test_a_token_names_its_user_and_checking_it_writes_nothing(session: Session) -> None:
    token = issue_token(session, _user(session, "budi"), label="hp", now_ms=NOW)
    session.commit()
    principal = principal_for_token(session, token, now_ms=NOW + 5)
    assert (principal.username, principal.role) == ("budi", Role.FARMER)
    assert not session.dirty and not session.new
    assert session.scalars(select(ApiToken.last_used_ms)).one() is None


def test_a_tokens_last_use_moves_forward_by_the_minute(session: Session) -> None:
    budi = _user(session, "budi")
    token = issue_token(session, budi, label="hp", now_ms=NOW)
    other = issue_token(session, _user(session, "siti"), label="hp", now_ms=NOW)

    def last_use() -> int | None:
        return session.scalars(
            select(ApiToken.last_used_ms).where(ApiToken.user_id == budi.id)
        ).one()

    record_token_uses(session, {token: NOW + 5, "tani_unknown": NOW})
    assert last_use() == NOW + 5
    record_token_uses(session, {token: NOW + 59_000})  # within the minute: the record stands
    assert last_use() == NOW + 5
    record_token_uses(session, {token: NOW + 65_005})
    assert last_use() == NOW + 65_005
    record_token_uses(session, {token: NOW})  # a use noted late never moves it back
    assert last_use() == NOW + 65_005
    assert session.scalars(  # another person's token is left alone
        select(ApiToken.last_used_ms).where(ApiToken.user_id != budi.id)
    ).all() == [None]
    assert principal_for_token(session, other, now_ms=NOW).username == "siti"


def test_a_token_expires_at_its_end(session: Session) -> None:
    token = issue_token(session, _user(session, "budi"), label="hp", now_ms=NOW, ttl_s=60)
    principal_for_token(session, token, now_ms=NOW + 59_999)
    with pytest.raises(AuthenticationError, match="expired"):
        principal_for_token(session, token, now_ms=NOW + 60_000)


def test_a_revoked_or_unknown_token_is_refused(session: Session) -> None:
    token = issue_token(session, _user(session, "budi"), label="hp", now_ms=NOW)
    assert revoke_token(session, token) is True
    assert revoke_token(session, token) is False
    for bad in (token, TOKEN_PREFIX + "x" * 43, ""):
        with pytest.raises(AuthenticationError):
            principal_for_token(session, bad, now_ms=NOW)


def test_a_deactivated_persons_token_is_refused(session: Session) -> None:
    budi = _user(session, "budi")
    token = issue_token(session, budi, label="hp", now_ms=NOW)
    budi.active = False  # deactivate_user also deletes tokens; this checks the user itself
    with pytest.raises(AuthenticationError, match="deactivated"):
        principal_for_token(session, token, now_ms=NOW)


# -- scopes --------------------------------------------------------------------------------------


def test_an_admin_sees_everything(session: Session) -> None:
    admin = _principal(session, "admin")
    assert admin.is_admin and admin.villages is None and admin.fields is None
    assert admin.can_see_village("v2") and admin.can_see_village(None)
    assert admin.can_see_field("sawah-siti", "v2") and admin.can_see_field(None, None)


def test_an_officer_sees_the_assigned_villages_only(session: Session) -> None:
    ppl = _principal(session, "ppl")
    assert ppl.villages == {"v1"} and ppl.fields is None
    assert ppl.can_see_village("v1") and not ppl.can_see_village("v2")
    assert ppl.can_see_field("ladang-v1", "v1") and ppl.can_see_field("sawah-budi", "v1")
    assert not ppl.can_see_field("sawah-siti", "v2")
    assert not ppl.can_see_village(None) and not ppl.can_see_field(None, None)


def test_the_village_office_sees_its_village_only(session: Session) -> None:
    office = _principal(session, "desa1")
    assert office.villages == {"v1"} and office.fields is None
    assert office.can_see_village("v1") and not office.can_see_village("v2")
    assert office.can_see_field("sawah-budi", "v1")
    assert not office.can_see_field("sawah-siti", "v2")


def test_a_farmer_sees_own_fields_not_the_village_nor_other_fields(session: Session) -> None:
    budi = _principal(session, "budi")
    assert budi.fields == {"sawah-budi"} and budi.villages == {"v1"}
    assert budi.can_see_field("sawah-budi", "v1")
    assert not budi.can_see_field("ladang-v1", "v1")  # same village, not his
    assert not budi.can_see_field("sawah-siti", "v2")
    assert not budi.can_see_village("v1")  # village-wide summaries are the office's

"""Farmer records: the registry's functions, the checks at the edge, litres into mm, the JSON API
per role, the phone form (GET, POST, redirect, refusals) and the CSV."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from agronomy.amendments import crop_for, lime_for
from api.auth import SESSION_COOKIE, now_ms
from api.field_records import new_record, site_today
from api.schemas_records import PROBLEM, RecordCreate, RecordInputError
from registry.access import principal_for
from registry.models import Field
from registry.people import User
from registry.records import (
    DELETE_WINDOW_MS,
    FieldRecord,
    NewRecord,
    RecordKind,
    RecordRefused,
    add_record,
    delete_record,
    field_records,
    irrigation_mm_by_day,
    may_delete,
)
from registry.store import RegistryError, RegistryNotFound
from tests.unit.api_support import Site, running_site

SAME_SITE = {"Origin": "http://testserver"}
TODAY = site_today(7)  # the test site's zone (WIB, ApiConfig's default)
D1, D2, D3 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The API over the test site (see api_support), signed out."""
    with running_site(tmp_path) as site:
        yield site


def _user_id(session: Session, username: str) -> int:
    user_id = session.scalar(select(User.id).where(User.username == username))
    assert user_id is not None
    return user_id


def _field(site: Site, field_id: str) -> Field:
    with Session(site.registry.engine, expire_on_commit=False) as session:
        field = session.get(Field, field_id)
        assert field is not None
        return field


def _stored(site: Site, field_id: str = "sawah-budi") -> list[FieldRecord]:
    with Session(site.registry.engine, expire_on_commit=False) as session:
        return field_records(session, field_id)


def _add(
    session: Session, kind: RecordKind, day: date, amount: float | None = None, **extra: Any
) -> FieldRecord:
    entered_by = extra.pop("entered_by_id", None)
    when = extra.pop("now_ms", now_ms())
    data = NewRecord(kind=kind, day=day, amount=amount, **extra)
    return add_record(session, "sawah-budi", data, entered_by_id=entered_by, now_ms=when)


def _set_area(site: Site, field_id: str, area_m2: float | None) -> None:
    with Session(site.registry.engine) as session:
        field = session.get(Field, field_id)
        assert field is not None
        field.area_m2 = area_m2
        session.commit()


# -- the registry ---------------------------------------------------------------------------------


def test_records_are_listed_newest_first_within_the_days_asked(site: Site) -> None:
    with Session(site.registry.engine) as session:
        first = _add(session, RecordKind.IRRIGATION, D1, 10)
        second = _add(session, RecordKind.FERTILISER, D2, 50, product="Urea")
        third = _add(session, RecordKind.IRRIGATION, D2, 5)
        _add(session, RecordKind.HARVEST, D3)
        session.commit()
        everything = field_records(session, "sawah-budi")
        assert [(r.kind, r.day) for r in everything] == [
            ("harvest", D3),
            ("irrigation", D2),  # the later entry of a day first
            ("fertiliser", D2),
            ("irrigation", D1),
        ]
        assert [r.id for r in field_records(session, "sawah-budi", D1, D2)] == [
            third.id,
            second.id,
            first.id,
        ]
        assert field_records(session, "sawah-budi", since=D3)[0].kind == "harvest"
        assert [r.id for r in field_records(session, "sawah-budi", until=D1)] == [first.id]
        only = field_records(session, "sawah-budi", kinds=[RecordKind.FERTILISER])
        assert [r.product for r in only] == ["Urea"]
        assert field_records(session, "sawah-siti") == []


def test_irrigation_by_day_sums_a_days_water_and_includes_both_ends(site: Site) -> None:
    with Session(site.registry.engine) as session:
        _add(session, RecordKind.IRRIGATION, D1, 10)
        _add(session, RecordKind.IRRIGATION, D1, 2.5)
        _add(session, RecordKind.IRRIGATION, D3, 7)
        _add(session, RecordKind.FERTILISER, D2, 50, product="Urea")  # not water
        other = NewRecord(RecordKind.IRRIGATION, D2, 99)
        add_record(session, "sawah-siti", other, entered_by_id=None, now_ms=now_ms())
        session.commit()
        assert irrigation_mm_by_day(session, "sawah-budi", D1, D3) == {D1: 12.5, D3: 7.0}
        assert irrigation_mm_by_day(session, "sawah-budi", D2, D2) == {}
        assert irrigation_mm_by_day(session, "sawah-budi", D3, D3) == {D3: 7.0}
        assert irrigation_mm_by_day(session, "sawah-siti", D1, D3) == {D2: 99.0}


def test_a_planting_sets_the_fields_crop_unless_a_later_one_is_there(site: Site) -> None:
    with Session(site.registry.engine) as session:
        _add(session, RecordKind.PLANTING, D2, product="jagung")
        field = session.get(Field, "sawah-budi")
        assert field is not None
        assert (field.crop, field.planted_on) == ("jagung", D2)
        # Last season, entered afterwards: history, the current season stays.
        _add(session, RecordKind.PLANTING, D1, product="padi")
        assert (field.crop, field.planted_on) == ("jagung", D2)
        _add(session, RecordKind.PLANTING, D3, product="kedelai")
        assert (field.crop, field.planted_on) == ("kedelai", D3)
        session.commit()


def test_deleting_the_current_planting_puts_back_the_one_before(site: Site) -> None:
    with Session(site.registry.engine) as session:
        admin = principal_for(session, session.get(User, _user_id(session, "admin")))  # type: ignore[arg-type]
        _add(session, RecordKind.PLANTING, D1, product="padi")
        older = _add(session, RecordKind.PLANTING, D2, product="jagung")
        newest = _add(session, RecordKind.PLANTING, D3, product="kedelai")
        field = session.get(Field, "sawah-budi")
        assert field is not None
        # An older planting: the field's season is untouched.
        delete_record(session, "sawah-budi", older.id, admin, now_ms=now_ms())
        assert (field.crop, field.planted_on) == ("kedelai", D3)
        delete_record(session, "sawah-budi", newest.id, admin, now_ms=now_ms())
        assert (field.crop, field.planted_on) == ("padi", D1)
        session.commit()


def test_the_registry_keeps_its_own_floor(site: Site) -> None:
    with Session(site.registry.engine) as session:
        for amount in (0.0, -1.0, math.nan, math.inf):
            with pytest.raises(RegistryError, match="more than 0"):
                _add(session, RecordKind.IRRIGATION, D1, amount)
        with pytest.raises(RegistryError, match="needs an amount"):
            _add(session, RecordKind.LIME, D1, product="dolomit")
        with pytest.raises(RegistryError, match="needs the crop"):
            _add(session, RecordKind.PLANTING, D1)
        with pytest.raises(RegistryError, match="no amount"):
            _add(session, RecordKind.PLANTING, D1, 5, product="padi")
        with pytest.raises(RegistryNotFound, match="unknown field"):
            add_record(
                session, "nope", NewRecord(RecordKind.HARVEST, D1), entered_by_id=None, now_ms=1
            )
        assert field_records(session, "sawah-budi") == []


def test_who_may_delete(site: Site) -> None:
    with Session(site.registry.engine) as session:
        people = {
            name: principal_for(session, session.get(User, _user_id(session, name)))  # type: ignore[arg-type]
            for name in ("admin", "ppl", "desa1", "budi", "siti")
        }
        now = now_ms()
        by_budi = _add(session, RecordKind.HARVEST, D1, entered_by_id=people["budi"].user_id)
        by_ppl = _add(session, RecordKind.HARVEST, D1, entered_by_id=people["ppl"].user_id)
        old = _add(
            session,
            RecordKind.HARVEST,
            D1,
            entered_by_id=people["budi"].user_id,
            now_ms=now - DELETE_WINDOW_MS - 1,
        )
        assert may_delete(by_budi, people["budi"], now)
        assert not may_delete(by_ppl, people["budi"], now)  # the officer's entry on budi's field
        assert not may_delete(old, people["budi"], now)  # entered more than 7 days ago
        for staff in ("admin", "ppl", "desa1"):
            assert may_delete(old, people[staff], now) and may_delete(by_budi, people[staff], now)
        with pytest.raises(RecordRefused):
            delete_record(session, "sawah-budi", old.id, people["budi"], now_ms=now)
        # Out of scope, another field's record, no such record: all "not found".
        with pytest.raises(RegistryNotFound):
            delete_record(session, "sawah-budi", by_budi.id, people["siti"], now_ms=now)
        with pytest.raises(RegistryNotFound):
            delete_record(session, "sawah-siti", by_budi.id, people["admin"], now_ms=now)
        with pytest.raises(RegistryNotFound):
            delete_record(session, "sawah-budi", 999_999, people["admin"], now_ms=now)
        delete_record(session, "sawah-budi", by_budi.id, people["budi"], now_ms=now)
        delete_record(session, "sawah-budi", old.id, people["desa1"], now_ms=now)
        session.commit()
        assert [r.id for r in field_records(session, "sawah-budi")] == [by_ppl.id]


# -- checks at the edge ---------------------------------------------------------------------------


def _valid(**data: Any) -> RecordCreate:
    return RecordCreate.model_validate({"day": "2026-10-01", **data})


def _refusal(**data: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        _valid(**data)
    return str(caught.value)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"kind": "irrigation", "amount": 300.01}, "at most 300 mm"),
        ({"kind": "irrigation", "amount": 0}, "more than 0"),
        ({"kind": "irrigation", "amount": -3}, "more than 0"),
        ({"kind": "irrigation", "amount": "nan"}, "finite number"),
        ({"kind": "irrigation", "amount": "inf"}, "finite number"),
        ({"kind": "irrigation"}, "how much water"),
        ({"kind": "fertiliser", "amount": 100_001, "product": "Urea"}, "at most 100,000 kg"),
        ({"kind": "fertiliser", "amount": 50}, "which fertiliser"),
        ({"kind": "fertiliser", "amount": 50, "product": "Urea", "unit": "liter"}, "only for"),
        ({"kind": "lime", "amount": 50}, "which lime"),
        ({"kind": "lime", "amount": 50, "product": "semen"}, "Unknown lime 'semen'"),
        ({"kind": "lime", "product": "dolomit"}, "how many kg"),
        ({"kind": "planting", "product": "padi", "amount": 3}, "no amount"),
        ({"kind": "planting", "product": "gandum"}, "Unknown crop 'gandum'"),
        ({"kind": "planting"}, "enter the crop"),
        ({"kind": "harvest", "amount": 100_001}, "at most 100,000 kg"),
        ({"kind": "harvest", "day": "1999-12-31"}, "in 2000 or later"),
        ({"kind": "harvest", "product": "x" * 64}, "at most 63 characters"),
        ({"kind": "harvest", "note": "x" * 501}, "at most 500 characters"),
        ({"kind": "weeding"}, "Input should be"),
        ({"kind": "harvest", "unit": "gallon"}, "Input should be 'mm' or 'liter'"),
        ({"kind": "harvest", "who": "me"}, "Extra inputs are not permitted"),
    ],
)
def test_refused_at_the_edge(data: dict[str, Any], says: str) -> None:
    assert says in _refusal(**data)


def test_refusals_are_in_indonesian_first_and_keep_their_msgid() -> None:
    with pytest.raises(ValidationError) as caught:
        _valid(kind="irrigation", amount=301)
    (problem,) = caught.value.errors()
    assert problem["type"] == PROBLEM
    assert problem["msg"] == (
        "Pengairan paling banyak 300 mm sehari. / Irrigation can be at most 300 mm a day."
    )
    assert problem["ctx"]["msgid"] == "Irrigation can be at most %(max)s mm a day."


def test_accepted_at_the_edges_and_normalised() -> None:
    assert _valid(kind="irrigation", amount=300).amount == 300
    assert _valid(kind="irrigation", amount="12,5").amount == 12.5  # decimal comma
    assert _valid(kind="harvest", amount="1.234,5").amount == 1234.5
    assert _valid(kind="harvest", day="2000-01-01").day == date(2000, 1, 1)
    assert _valid(kind="harvest", day="5/12/2026").day == date(2026, 12, 5)  # no date picker
    harvest = _valid(kind="harvest", amount="", product="  ", note=" ")
    assert (harvest.amount, harvest.product, harvest.note) == (None, None, None)
    assert _valid(kind="fertiliser", amount=100_000, product=" NPK Phonska ").product == (
        "NPK Phonska"
    )
    assert _valid(kind="planting", product="Padi Sawah").product == "padi"
    assert _valid(kind="planting", product="groundnut").product == "kacang_tanah"
    assert _valid(kind="planting", product="kacang tanah").product == "kacang_tanah"
    assert _valid(kind="lime", amount=200, product="Kapur Pertanian").product == "kaptan"
    assert crop_for("RICE") == "padi" and crop_for("gandum") is None
    assert lime_for("dolomite") == "dolomit" and lime_for("kapur hidup") == "kapur_tohor"


def _field_with_area(area_m2: float | None) -> Field:
    return Field(id="f", name="F", village_id="v1", area_m2=area_m2)


def test_litres_become_mm_over_the_fields_area() -> None:
    water = _valid(kind="irrigation", amount=2500, unit="liter")
    kept = new_record(water, _field_with_area(1000), date(2026, 10, 1))
    assert (kept.kind, kept.amount) == (RecordKind.IRRIGATION, 2.5)  # 1 L over 1 m2 is 1 mm
    mm = new_record(_valid(kind="irrigation", amount=25), _field_with_area(None), D1)
    assert mm.amount == 25  # mm need no area
    for area in (None, 0.0, math.nan):
        with pytest.raises(RecordInputError, match="Isi jumlahnya dalam mm"):
            new_record(water, _field_with_area(area), D1)
    with pytest.raises(RecordInputError) as caught:
        new_record(
            _valid(kind="irrigation", amount=40_000, unit="liter"), _field_with_area(100), D1
        )
    assert "400 mm" in str(caught.value) and "300 mm" in str(caught.value)


def test_no_record_after_today() -> None:
    harvest = _valid(kind="harvest", day="2026-10-02")
    assert new_record(harvest, _field_with_area(None), D2).day == D2
    with pytest.raises(RecordInputError, match="after today") as caught:
        new_record(harvest, _field_with_area(None), D1)
    assert caught.value.msgid.startswith("The date cannot be after today")


# -- the JSON API ---------------------------------------------------------------------------------


def _post_json(site: Site, username: str, field_id: str, **body: Any) -> httpx.Response:
    return site.client.post(
        f"/api/v1/fields/{field_id}/records", json=body, headers=site.auth(username)
    )


WATER = {"kind": "irrigation", "day": TODAY.isoformat(), "amount": 20}


def test_each_role_enters_records_only_where_it_may(site: Site) -> None:
    expected = {
        ("admin", "sawah-budi"): 201,
        ("ppl", "sawah-budi"): 201,
        ("desa1", "sawah-budi"): 201,
        ("budi", "sawah-budi"): 201,
        ("siti", "sawah-budi"): 404,
        ("tono", "sawah-budi"): 404,  # same village, not his field
        ("budi", "ladang-desa"): 404,  # nobody's field of his village
        ("ppl", "kebun-v3"): 201,
        ("ppl", "sawah-siti"): 404,
        ("desa1", "sawah-siti"): 404,
        ("desa1", "kebun-v3"): 404,
        ("siti", "sawah-siti"): 201,
        ("admin", "nope"): 404,
    }
    got = {
        (user, field): _post_json(site, user, field, **WATER).status_code
        for user, field in expected
    }
    assert got == expected
    # Out of scope is 404 whatever the body: a 422 would tell the field exists.
    assert _post_json(site, "siti", "sawah-budi", kind="bad").status_code == 404
    assert site.client.post("/api/v1/fields/sawah-budi/records", json=WATER).status_code == 401


def test_an_officer_entering_for_a_farmer_is_recorded_as_the_officer(site: Site) -> None:
    response = _post_json(site, "ppl", "sawah-budi", **WATER, note="disiram pompa")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["entered_by"] == "ppl" and body["entered_by_name"] == "Ppl"
    assert (body["kind"], body["amount"], body["unit"], body["note"]) == (
        "irrigation",
        20.0,
        "mm",
        "disiram pompa",
    )
    listed = site.client.get("/api/v1/fields/sawah-budi/records", headers=site.auth("budi"))
    assert listed.status_code == 200
    assert [(r["id"], r["entered_by"]) for r in listed.json()] == [(body["id"], "ppl")]
    with Session(site.registry.engine) as session:
        (record,) = field_records(session, "sawah-budi")
        assert record.entered_by_id == _user_id(session, "ppl")


def test_the_api_lists_newest_first_between_since_and_until(site: Site) -> None:
    for day in ("2026-10-01", "2026-10-03", "2026-10-02"):
        assert _post_json(site, "budi", "sawah-budi", **(WATER | {"day": day})).status_code == 201

    def days(query: str) -> list[str]:
        response = site.client.get(
            f"/api/v1/fields/sawah-budi/records{query}", headers=site.auth("budi")
        )
        assert response.status_code == 200, response.text
        return [r["day"] for r in response.json()]

    assert days("") == ["2026-10-03", "2026-10-02", "2026-10-01"]
    assert days("?since=2026-10-02") == ["2026-10-03", "2026-10-02"]
    assert days("?since=2026-10-01&until=2026-10-02&limit=1") == ["2026-10-02"]
    bad = site.client.get(
        "/api/v1/fields/sawah-budi/records?since=2026-10-03&until=2026-10-01",
        headers=site.auth("budi"),
    )
    assert bad.status_code == 422
    hidden = site.client.get("/api/v1/fields/sawah-budi/records", headers=site.auth("siti"))
    assert hidden.status_code == 404


def test_the_api_refuses_in_both_languages(site: Site) -> None:
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    response = _post_json(site, "budi", "sawah-budi", **(WATER | {"day": tomorrow}))
    assert response.status_code == 422
    assert response.json()["detail"].startswith("Tanggal tidak boleh setelah hari ini")
    assert "The date cannot be after today" in response.json()["detail"]
    response = _post_json(site, "budi", "sawah-budi", **(WATER | {"unit": "liter"}))
    assert response.status_code == 422 and "area of this field is not known" in response.text
    response = _post_json(site, "budi", "sawah-budi", **(WATER | {"amount": 301}))
    assert response.status_code == 422
    assert "Pengairan paling banyak 300 mm" in response.json()["detail"][0]["msg"]
    assert _stored(site) == []


def test_a_planting_through_the_api_sets_the_fields_crop(site: Site) -> None:
    body = {"kind": "planting", "day": TODAY.isoformat(), "product": "jagung"}
    response = _post_json(site, "budi", "sawah-budi", **body)
    assert response.status_code == 201 and response.json()["unit"] is None
    field = _field(site, "sawah-budi")
    assert (field.crop, field.planted_on) == ("jagung", TODAY)


def test_deleting_through_the_api(site: Site) -> None:
    own = _post_json(site, "budi", "sawah-budi", **WATER).json()["id"]
    officers = _post_json(site, "ppl", "sawah-budi", **WATER).json()["id"]

    def delete(username: str, record_id: int, field_id: str = "sawah-budi") -> int:
        path = f"/api/v1/fields/{field_id}/records/{record_id}"
        return site.client.delete(path, headers=site.auth(username)).status_code

    assert delete("siti", own) == 404
    assert delete("admin", own, "sawah-siti") == 404  # not that field's record
    assert delete("budi", officers) == 403
    assert delete("budi", own) == 204
    assert delete("budi", own) == 404  # gone
    with Session(site.registry.engine) as session:
        record = session.get(FieldRecord, officers)
        assert record is not None
        record.entered_by_id = _user_id(session, "budi")
        record.entered_ms = now_ms() - DELETE_WINDOW_MS - 60_000
        session.commit()
    assert delete("budi", officers) == 403  # his now, but over 7 days old
    assert delete("ppl", officers) == 204
    assert _stored(site) == []


def test_the_csv_has_a_header_and_every_record(site: Site) -> None:
    _set_area(site, "sawah-budi", 1000)
    _post_json(site, "budi", "sawah-budi", **(WATER | {"amount": 3000, "unit": "liter"}))
    note = '=HYPERLINK("http://evil")'
    _post_json(
        site,
        "ppl",
        "sawah-budi",
        kind="fertiliser",
        day=TODAY.isoformat(),
        amount=25,
        product="NPK Phonska",
        note=note,
    )
    response = site.client.get("/api/v1/fields/sawah-budi/records.csv", headers=site.auth("budi"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="catatan_sawah-budi.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == [
        "day",
        "kind",
        "amount",
        "unit",
        "product",
        "note",
        "entered_by",
        "entered_by_name",
        "entered_at",
    ]
    fertiliser, water = rows[1], rows[2]
    assert fertiliser[:8] == [
        TODAY.isoformat(),
        "fertiliser",
        "25.0",
        "kg",
        "NPK Phonska",
        "'" + note,  # a spreadsheet shows the text instead of running it
        "ppl",
        "Ppl",
    ]
    assert water[1:4] == ["irrigation", "3.0", "mm"] and water[6] == "budi"
    assert len(rows) == 3
    hidden = site.client.get("/api/v1/fields/sawah-budi/records.csv", headers=site.auth("siti"))
    assert hidden.status_code == 404


# -- the phone form -------------------------------------------------------------------------------


def _as(site: Site, username: str) -> None:
    site.client.cookies.set(SESSION_COOKIE, site.tokens[username])


def _get(site: Site, path: str) -> httpx.Response:
    return site.client.get(path, follow_redirects=False)


def _post(
    site: Site, path: str, headers: dict[str, str] = SAME_SITE, **data: str
) -> httpx.Response:
    return site.client.post(path, data=data, headers=headers, follow_redirects=False)


FORM = {"kind": "irrigation", "day": TODAY.isoformat(), "amount": "12,5", "unit": "mm"}


def test_the_page_lists_records_and_offers_the_form(site: Site) -> None:
    _post_json(site, "ppl", "sawah-budi", **WATER, note="pompa <sumur>")
    _as(site, "budi")
    page = _get(site, "/lahan/sawah-budi/catatan")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert '<html lang="id">' in page.text
    assert "Catatan: Sawah-Budi" in page.text and "Tambah catatan" in page.text
    assert 'method="post" action="/lahan/sawah-budi/catatan"' in page.text
    assert f'type="date" value="{TODAY.isoformat()}"' in page.text
    assert f'max="{TODAY.isoformat()}"' in page.text
    assert "Pengairan · 20 mm" in page.text and "dicatat oleh Ppl" in page.text
    assert "pompa &lt;sumur&gt;" in page.text  # escaped
    assert "<script" not in page.text
    assert 'href="/api/v1/fields/sawah-budi/records.csv"' in page.text
    # Budi may not delete the officer's entry, so no button for it.
    assert "/hapus" not in page.text
    english = _get(site, "/lahan/sawah-budi/catatan?lang=en")
    assert '<html lang="en">' in english.text
    assert "Irrigation · 20 mm" in english.text and "entered by Ppl" in english.text
    assert "Pengairan" not in english.text and "Tambah catatan" not in english.text


def test_the_page_is_not_found_out_of_scope_and_asks_to_sign_in(site: Site) -> None:
    _as(site, "siti")
    response = _get(site, "/lahan/sawah-budi/catatan")
    assert response.status_code == 404 and "tidak ditemukan" in response.text
    assert _post(site, "/lahan/sawah-budi/catatan", **FORM).status_code == 404
    assert _stored(site) == []
    site.client.cookies.clear()
    response = _get(site, "/lahan/sawah-budi/catatan")
    assert response.status_code == 303
    assert response.headers["location"] == "/masuk?next=/lahan/sawah-budi/catatan"


def test_a_saved_record_goes_back_to_the_list(site: Site) -> None:
    _as(site, "ppl")
    response = _post(site, "/lahan/sawah-budi/catatan", **FORM, note="lewat penyuluh")
    assert response.status_code == 303
    assert response.headers["location"] == "/lahan/sawah-budi/catatan?disimpan=1"
    assert response.headers["cache-control"] == "no-store"
    (record,) = _stored(site)
    assert (record.kind, record.day, record.amount, record.note) == (
        "irrigation",
        TODAY,
        12.5,
        "lewat penyuluh",
    )
    with Session(site.registry.engine) as session:
        assert record.entered_by_id == _user_id(session, "ppl")
    page = _get(site, response.headers["location"])
    assert "Tersimpan" in page.text and "12,5 mm" in page.text
    assert f'action="/lahan/sawah-budi/catatan/{record.id}/hapus"' in page.text


def test_litres_on_the_form_need_the_fields_area(site: Site) -> None:
    _as(site, "budi")
    litres = FORM | {"amount": "500", "unit": "liter"}
    refused = _post(site, "/lahan/sawah-budi/catatan", **litres)
    assert refused.status_code == 422
    assert "Luas lahan ini belum diketahui" in refused.text
    assert 'value="500"' in refused.text and '<option value="liter" selected>' in refused.text
    assert _stored(site) == []
    _set_area(site, "sawah-budi", 250)
    assert _post(site, "/lahan/sawah-budi/catatan", **litres).status_code == 303
    assert [r.amount for r in _stored(site)] == [2.0]
    page = _get(site, "/lahan/sawah-budi/catatan")
    assert "2 mm (500 liter)" in page.text and "(250 m²) sama dengan 250 liter" in page.text


def test_a_refused_form_comes_back_with_what_was_typed_and_why(site: Site) -> None:
    _as(site, "budi")
    typed = FORM | {"amount": "301", "note": "banyak <sekali>"}
    response = _post(site, "/lahan/sawah-budi/catatan", **typed)
    assert response.status_code == 422
    assert response.headers["cache-control"] == "no-store"
    assert "Pengairan paling banyak 300 mm sehari." in response.text
    assert "Irrigation can be" not in response.text
    assert 'value="301"' in response.text and "banyak &lt;sekali&gt;</textarea>" in response.text
    assert '<option value="irrigation" selected>' in response.text
    # The language link of the answer goes to the page, not to the POST's address.
    assert 'href="/lahan/sawah-budi/catatan?lang=en"' in response.text
    nothing = _post(site, "/lahan/sawah-budi/catatan", kind="", day="kemarin", amount="dua")
    assert nothing.status_code == 422
    for said in ("Pilih kegiatan", "Isi tanggal", "Isi jumlah dengan angka, misalnya 12,5"):
        assert said in nothing.text, said
    english = site.client.post(
        "/lahan/sawah-budi/catatan?lang=en",
        data=FORM | {"kind": "planting", "product": "gandum", "amount": ""},
        headers=SAME_SITE,
    )
    assert english.status_code == 422
    assert "Unknown crop &#39;gandum&#39;. Choose one of: padi sawah" in english.text
    tomorrow = FORM | {"day": (TODAY + timedelta(days=1)).isoformat()}
    # ?lang=en is remembered (cookie): the next answer is English too.
    assert "cannot be after today" in _post(site, "/lahan/sawah-budi/catatan", **tomorrow).text
    assert _stored(site) == []


def test_a_planting_on_the_form_sets_the_crop(site: Site) -> None:
    _as(site, "budi")
    planting = {"kind": "planting", "day": TODAY.isoformat(), "product": "Jagung", "unit": "mm"}
    assert _post(site, "/lahan/sawah-budi/catatan", **planting).status_code == 303
    field = _field(site, "sawah-budi")
    assert (field.crop, field.planted_on) == ("jagung", TODAY)
    page = _get(site, "/lahan/sawah-budi/catatan?lang=en")
    assert "Planting" in page.text and "<p>maize</p>" in page.text


def test_a_cross_site_post_is_refused(site: Site) -> None:
    _as(site, "budi")
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = _post(site, "/lahan/sawah-budi/catatan", headers=headers, **FORM)
        assert response.status_code == 403
    assert _stored(site) == []
    # An old phone browser that sends no Origin still works.
    assert _post(site, "/lahan/sawah-budi/catatan", headers={}, **FORM).status_code == 303


def test_deleting_on_the_page(site: Site) -> None:
    _as(site, "budi")
    assert _post(site, "/lahan/sawah-budi/catatan", **FORM).status_code == 303
    officers = _post_json(site, "ppl", "sawah-budi", **WATER).json()["id"]
    own = next(r.id for r in _stored(site) if r.id != officers)
    refused = _post(site, f"/lahan/sawah-budi/catatan/{officers}/hapus")
    assert refused.status_code == 403 and "dalam 7 hari" in refused.text
    evil = _post(site, f"/lahan/sawah-budi/catatan/{own}/hapus", {"Origin": "http://evil"})
    assert evil.status_code == 403
    response = _post(site, f"/lahan/sawah-budi/catatan/{own}/hapus")
    assert response.status_code == 303
    assert response.headers["location"] == "/lahan/sawah-budi/catatan?dihapus=1"
    assert [r.id for r in _stored(site)] == [officers]
    assert "Catatan sudah dihapus" in _get(site, response.headers["location"]).text
    gone = _post(site, f"/lahan/sawah-budi/catatan/{own}/hapus")
    assert gone.status_code == 404 and "tidak ada (lagi)" in gone.text
    assert _post(site, f"/lahan/sawah-budi/catatan/{2**70}/hapus").status_code == 404
    _as(site, "siti")
    assert _post(site, f"/lahan/sawah-budi/catatan/{officers}/hapus").status_code == 404
    _as(site, "ppl")
    assert _post(site, f"/lahan/sawah-budi/catatan/{officers}/hapus").status_code == 303
    assert _stored(site) == []

"""Alert notification text: what it says, in which language, and that it always fits one SMS.

One SMS means GSM-7 and at most 160 septets: a single character outside the GSM 03.38 default
alphabet ("°", "…", an emoji in a name) sends the whole text as UCS-2, three parts instead of one.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.messages import BODY_LIMIT, MAX_LINK, TITLE_LIMIT, MessageContext, ack_link, render
from alerts.sms import is_gsm7, septets, sms_parts
from registry.alerting import Alert, RuleKind, Severity
from telemetry.quantities import QUANTITIES

WIB = timezone(timedelta(hours=7))
NOW = datetime(2025, 3, 12, 9, 40, tzinfo=WIB)
NOW_MS = int(NOW.timestamp() * 1000)
TOKEN = "Zk3q0v9XnW1mS8yT2bR7cL4dF6hJ5pQa"  # as long as lifecycle's token_urlsafe(24)
LINK = ack_link("http://tani.lan", TOKEN)  # the village office's server
LONG_LINK = ack_link("https://tani.waykanankab.go.id/", TOKEN)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def make_alert(
    kind: RuleKind = RuleKind.BELOW,
    *,
    severity: Severity = Severity.CRITICAL,
    quantity: str | None = "soil_moisture",
    value: float | None = 14.2,
    threshold: float | None = 18.0,
    last_value: float | None = None,
    since: datetime = NOW - timedelta(minutes=25),
    resolved: datetime | None = None,
) -> Alert:
    """An alert row as the lifecycle writes it (not stored: render needs no database)."""
    return Alert(
        rule_name="kelembapan-rendah",
        kind=kind.value,
        severity=severity.value,
        subject="gw-1/probe-1/soil_moisture",
        gateway_id="gw-1",
        device_id="probe-1",
        quantity=quantity,
        value=value,
        threshold=threshold,
        last_value=value if last_value is None else last_value,
        since_ms=_ms(since),
        opened_ms=_ms(since),
        resolved_ms=None if resolved is None else _ms(resolved),
    )


def make_context(**names: str | None) -> MessageContext:
    """Sawah Utara of Budi Santoso in Karang Agung, unless told otherwise."""
    defaults: dict[str, str | None] = {
        "field_name": "Sawah Utara",
        "farmer_name": "Budi Santoso",
        "village_name": "Karang Agung",
        "device_name": "probe-1",
        "gateway_name": "Balai Pekon",
    }
    return MessageContext(ack_url=LINK, now_ms=NOW_MS, **(defaults | names))


def test_opened_in_indonesian_says_what_where_since_when_and_the_link() -> None:
    message = render(make_alert(), "opened", language="id", context=make_context())
    assert message.body == (
        "KRITIS: Kelembapan tanah 14,2% < 18% sejak 09:15 WIB. "
        "Sawah Utara (Budi Santoso), Karang Agung. "
        f"Konfirmasi: http://tani.lan/a/{TOKEN}"
    )
    assert message.title == "[KRITIS] Kelembapan tanah 14,2% < 18% - Sawah Utara"


def test_opened_in_english_uses_a_decimal_point() -> None:
    message = render(make_alert(), "opened", language="en", context=make_context())
    assert message.body.startswith("CRITICAL: Soil moisture 14.2% < 18% since 09:15 WIB. ")
    assert "Sawah Utara (Budi Santoso)" in message.body
    assert message.body.endswith(f"Acknowledge: {LINK}")


@pytest.mark.parametrize(
    ("severity", "indonesian", "english"),
    [
        (Severity.INFO, "INFO", "INFO"),
        (Severity.WARNING, "WASPADA", "WARNING"),
        (Severity.CRITICAL, "KRITIS", "CRITICAL"),
    ],
)
def test_severity_words(severity: Severity, indonesian: str, english: str) -> None:
    alert = make_alert(severity=severity)
    assert render(alert, "opened", language="id", context=make_context()).body.startswith(
        f"{indonesian}: "
    )
    assert render(alert, "opened", language="en", context=make_context()).body.startswith(
        f"{english}: "
    )


def test_escalation_says_nobody_acknowledged_and_gives_the_current_value() -> None:
    alert = make_alert(value=14.2, last_value=12.4)
    indonesian = render(alert, "escalated", language="id", context=make_context()).body
    english = render(alert, "escalated", language="en", context=make_context()).body
    assert indonesian.startswith("KRITIS, belum ditangani: Kelembapan tanah 12,4% < 18%")
    assert english.startswith("CRITICAL, not acknowledged: Soil moisture 12.4% < 18%")
    assert LINK in indonesian
    assert LINK in english


def test_resolved_says_selesai_with_the_value_now_and_how_long_it_lasted() -> None:
    alert = make_alert(last_value=21.0, resolved=NOW - timedelta(minutes=5))
    indonesian = render(alert, "resolved", language="id", context=make_context()).body
    english = render(alert, "resolved", language="en", context=make_context()).body
    assert indonesian.startswith("SELESAI: Kelembapan tanah kini 21% (09:15-09:35 WIB). ")
    assert english.startswith("RESOLVED: Soil moisture now 21% (09:15-09:35 WIB). ")
    assert indonesian.endswith(f"Detail: {LINK}")


KIND_WORDS = {
    # kind: (quantity, opened id, opened en, resolved id, resolved en)
    RuleKind.BELOW: ("soil_moisture", "14,2% < 18%", "14.2% < 18%", "kini", "now"),
    RuleKind.ABOVE: ("air_temperature", "14,2 C > 18 C", "14.2 C > 18 C", "kini", "now"),
    RuleKind.RATE: (
        "soil_moisture",
        "berubah 14,2%/jam (batas 18%/jam)",
        "changing 14.2%/h (limit 18%/h)",
        "stabil lagi",
        "steady again",
    ),
    RuleKind.NO_DATA: (
        None,
        "Sensor probe-1 tidak mengirim data",
        "No data from sensor probe-1",
        "Sensor probe-1 mengirim data lagi",
        "Sensor probe-1 sending again",
    ),
    RuleKind.GATEWAY_OFFLINE: (
        None,
        "Gateway Balai Pekon terputus",
        "Gateway Balai Pekon offline",
        "Gateway Balai Pekon tersambung lagi",
        "Gateway Balai Pekon back online",
    ),
    RuleKind.QUALITY_BAD: (
        "soil_ph",
        "Data pH tanah buruk, sensor probe-1",
        "Bad soil pH readings, sensor probe-1",
        "Data pH tanah baik lagi",
        "Soil pH readings good again",
    ),
    RuleKind.WATER_STRESS: (
        None,
        "Tanaman kekurangan air: siram 14,2 mm",
        "Crop short of water: give 14.2 mm",
        "Air tanaman cukup lagi",
        "Crop has enough water again",
    ),
}


@pytest.mark.parametrize("kind", list(RuleKind))
@pytest.mark.parametrize("purpose", ["opened", "escalated", "resolved"])
@pytest.mark.parametrize("language", ["id", "en"])
def test_every_kind_and_purpose_says_what_happened(
    kind: RuleKind, purpose: str, language: str
) -> None:
    quantity, opened_id, opened_en, resolved_id, resolved_en = KIND_WORDS[kind]
    alert = make_alert(kind, quantity=quantity, resolved=NOW)
    message = render(alert, purpose, language=language, context=make_context())
    expected = {
        ("id", False): opened_id,
        ("en", False): opened_en,
        ("id", True): resolved_id,
        ("en", True): resolved_en,
    }[(language, purpose == "resolved")]
    assert expected in message.body
    assert "Sawah" in message.body
    assert LINK in message.body
    assert is_gsm7(message.body)
    assert sms_parts(message.body) == 1


def test_a_time_not_today_carries_its_date() -> None:
    alert = make_alert(since=datetime(2025, 3, 11, 23, 50, tzinfo=WIB))
    assert (
        "sejak 11 Mar 23:50 WIB"
        in render(alert, "opened", language="id", context=make_context()).body
    )
    alert = make_alert(since=datetime(2025, 5, 1, 6, 0, tzinfo=WIB))
    later = MessageContext(ack_url=LINK, now_ms=_ms(datetime(2025, 5, 2, 6, 0, tzinfo=WIB)))
    assert "sejak 1 Mei 06:00 WIB" in render(alert, "opened", language="id", context=later).body
    assert "since 1 May 06:00 WIB" in render(alert, "opened", language="en", context=later).body


def test_local_time_follows_the_offset() -> None:
    context = MessageContext(ack_url=LINK, now_ms=NOW_MS, utc_offset_h=8)
    body = render(make_alert(), "opened", language="id", context=context).body
    assert "sejak 10:15 WITA" in body


def test_long_names_are_shortened_never_the_value_or_the_link() -> None:
    context = make_context(
        field_name="Sawah tadah hujan di sebelah timur bendungan Way Umpu " * 3,
        farmer_name="Bapak Haji Muhammad Sutrisno bin Abdullah Wiryo " * 3,
        village_name="Kampung Gunung Labuhan " * 5,
    )
    body = render(make_alert(), "escalated", language="id", context=context).body
    assert septets(body) <= BODY_LIMIT
    assert "Kelembapan tanah 14,2% < 18%" in body
    assert "..." in body  # "…" is not GSM-7: one of it would make the SMS three
    assert "…" not in body
    assert body.endswith(LINK)


def test_degrees_are_written_without_the_degree_sign() -> None:
    alert = make_alert(RuleKind.ABOVE, quantity="air_temperature", value=31.5, threshold=30.0)
    indonesian = render(alert, "opened", language="id", context=make_context()).body
    english = render(alert, "opened", language="en", context=make_context()).body
    assert indonesian == (
        "KRITIS: Suhu udara 31,5 C > 30 C sejak 09:15 WIB. "
        "Sawah Utara (Budi Santoso), Karang Agung. "
        f"Konfirmasi: {LINK}"
    )
    assert english.startswith("CRITICAL: Air temperature 31.5 C > 30 C since 09:15 WIB. ")
    wind = make_alert(RuleKind.ABOVE, quantity="wind_direction", value=270.0, threshold=180.0)
    assert "Arah angin 270 derajat > 180 derajat" in (
        render(wind, "opened", language="id", context=make_context()).body
    )
    assert "Wind direction 270 deg > 180 deg" in (
        render(wind, "opened", language="en", context=make_context()).body
    )
    for body in (indonesian, english):
        assert is_gsm7(body)
        assert sms_parts(body) == 1


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [
        ("soil_ec", "1250 uS/cm"),
        ("solar_radiation", "1250 W/m2"),
        ("air_pressure", "1250 hPa"),
        ("soil_nitrogen", "1250 mg/kg"),
    ],
)
def test_units_outside_gsm7_are_written_in_ascii(quantity: str, amount: str) -> None:
    alert = make_alert(RuleKind.ABOVE, quantity=quantity, value=1250.0, threshold=None)
    body = render(alert, "opened", language="id", context=make_context()).body
    assert amount in body
    assert is_gsm7(body)


def test_the_email_subject_keeps_its_degree_sign_and_the_names_as_written() -> None:
    alert = make_alert(RuleKind.ABOVE, quantity="air_temperature", value=31.5, threshold=30.0)
    context = make_context(field_name="Sawah Sukamaju\u2013Baru")
    message = render(alert, "opened", language="id", context=context)
    assert message.title == "[KRITIS] Suhu udara 31,5°C > 30°C - Sawah Sukamaju\u2013Baru"
    assert "Sawah Sukamaju-Baru" in message.body


def test_names_outside_gsm7_are_transliterated_not_sent_as_ucs2() -> None:
    context = make_context(
        field_name="Sukamaju\u2013Baru 🌾", farmer_name="Ahmad Ṣāliḥ", village_name="“Way Tuba”"
    )
    body = render(make_alert(), "opened", language="id", context=context).body
    assert ' WIB. Sukamaju-Baru ? (Ahmad Salih), "Way Tuba". Konfirmasi: ' in body
    assert is_gsm7(body)
    assert sms_parts(body) == 1


def test_the_length_budget_is_in_septets() -> None:
    # "[", "]", "{", "}", "|", "~", "^", "\\" and "€" are GSM-7 but cost two septets each.
    context = make_context(
        field_name="Blok [A]{1}|~^€ " * 8,
        farmer_name="€" * 60,
        village_name="Karang Agung",
    )
    body = render(make_alert(), "opened", language="id", context=context).body
    assert len(body) < septets(body) <= BODY_LIMIT
    assert sms_parts(body) == 1
    assert body.endswith(LINK)


def test_a_tight_body_drops_the_farmer_before_cutting_the_field_to_a_stub() -> None:
    alert = make_alert(RuleKind.RATE, value=14.2, threshold=18.0)
    body = render(alert, "escalated", language="id", context=make_context()).body
    assert body == (
        "KRITIS, belum ditangani: Kelembapan tanah berubah 14,2%/jam (batas 18%/jam) "
        f"sejak 09:15 WIB. Sawah Utara. {LINK}"
    )


def test_a_link_outside_gsm7_is_refused() -> None:
    link = ack_link("https://tani.çiftlik.id", TOKEN)  # "ç" is not GSM-7 ("Ç" is)
    with pytest.raises(ValueError, match="public_url"):
        render(make_alert(), "opened", language="id", context=MessageContext(link, NOW_MS))


def test_missing_names_leave_no_empty_brackets() -> None:
    context = MessageContext(ack_url=LINK, now_ms=NOW_MS, field_name="Sawah Utara")
    body = render(make_alert(), "opened", language="id", context=context).body
    assert "Sawah Utara. " in body
    assert "()" not in body


def test_control_characters_in_names_do_not_reach_the_message() -> None:
    context = make_context(field_name="Sawah\nUtara\u200b\t", farmer_name="Budi\x00 Santoso")
    body = render(make_alert(), "opened", language="id", context=context).body
    assert "Sawah Utara (Budi Santoso)" in body


def test_unknown_values_show_a_question_mark() -> None:
    body = render(make_alert(value=None), "opened", language="id", context=make_context()).body
    assert "Kelembapan tanah ? < 18% " in body


def test_rejects_an_unknown_purpose_and_a_link_too_long_for_an_sms() -> None:
    with pytest.raises(ValueError, match="purpose"):
        render(make_alert(), "reminder", language="id", context=make_context())
    long_link = ack_link("https://" + "x" * MAX_LINK, TOKEN)
    with pytest.raises(ValueError, match="public_url"):
        render(make_alert(), "opened", language="id", context=MessageContext(long_link, NOW_MS))


# What costs most in an SMS: two-septet GSM-7 characters, and those outside GSM-7 altogether.
costly = st.text(alphabet=st.sampled_from("^{}\\[~]|€é°…\u2013\u2019µ²🌾中\u0301 aZ"), max_size=300)
names = st.none() | st.text() | st.text(min_size=150, max_size=2000) | costly
values = st.none() | st.floats(allow_nan=True, allow_infinity=True)
links = st.sampled_from(
    [
        ack_link("http://127.0.0.1:8000", TOKEN),
        LONG_LINK,
        ack_link("https://" + "t" * (MAX_LINK - 46) + ".id", TOKEN),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(list(RuleKind)),
    purpose=st.sampled_from(["opened", "escalated", "resolved"]),
    language=st.sampled_from(["id", "en"]),
    severity=st.sampled_from(list(Severity)),
    quantity=st.none() | st.sampled_from(sorted(QUANTITIES)) | st.text(),
    value=values,
    threshold=values,
    last_value=values,
    since_ms=st.integers(min_value=0, max_value=4_000_000_000_000),
    now_ms=st.integers(min_value=0, max_value=4_000_000_000_000),
    offset=st.integers(min_value=-12, max_value=14),
    link=links,
    field=names,
    farmer=names,
    village=names,
    device=names,
    gateway=names,
)
def test_any_names_and_values_make_one_gsm7_sms_with_the_link(
    kind: RuleKind,
    purpose: str,
    language: str,
    severity: Severity,
    quantity: str | None,
    value: float | None,
    threshold: float | None,
    last_value: float | None,
    since_ms: int,
    now_ms: int,
    offset: int,
    link: str,
    field: str | None,
    farmer: str | None,
    village: str | None,
    device: str | None,
    gateway: str | None,
) -> None:
    alert = make_alert(kind, severity=severity, quantity=quantity, value=value)
    alert.threshold, alert.last_value = threshold, last_value
    alert.since_ms, alert.resolved_ms = since_ms, now_ms
    context = MessageContext(
        ack_url=link,
        now_ms=now_ms,
        utc_offset_h=offset,
        field_name=field,
        farmer_name=farmer,
        village_name=village,
        device_name=device,
        gateway_name=gateway,
    )
    message = render(alert, purpose, language=language, context=context)
    assert is_gsm7(message.body)
    assert septets(message.body) <= BODY_LIMIT
    assert sms_parts(message.body) == 1
    assert link in message.body
    assert len(message.title) <= TITLE_LIMIT
    assert "\n" not in message.body

"""SMS encoding arithmetic: which texts are GSM-7, how many septets, how many parts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.sms import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    is_gsm7,
    septets,
    sms_parts,
    to_gsm7,
)

# Every printable character of the GSM 03.38 default alphabet, as 3GPP TS 23.038 lists them.
BASIC_PRINTABLE = (
    "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION_PRINTABLE = "^{}\\[~]|€"


def test_the_tables_are_those_of_the_standard() -> None:
    assert len(GSM7_BASIC) == 128
    # Spot checks by code point: the places hand-made tables get wrong.
    assert (GSM7_BASIC[0x00], GSM7_BASIC[0x11], GSM7_BASIC[0x24]) == ("@", "_", "¤")
    assert (GSM7_BASIC[0x40], GSM7_BASIC[0x5F], GSM7_BASIC[0x60]) == ("¡", "§", "¿")
    assert (GSM7_BASIC[0x09], GSM7_BASIC[0x7F]) == ("Ç", "à")
    assert GSM7_EXTENSION == {
        0x0A: "\f",
        0x14: "^",
        0x28: "{",
        0x29: "}",
        0x2F: "\\",
        0x3C: "[",
        0x3D: "~",
        0x3E: "]",
        0x40: "|",
        0x65: "€",
    }


def test_basic_characters_cost_one_septet_and_extension_characters_two() -> None:
    assert is_gsm7(BASIC_PRINTABLE + "\n\r")
    assert septets(BASIC_PRINTABLE) == len(BASIC_PRINTABLE)
    assert is_gsm7(EXTENSION_PRINTABLE)
    assert septets(EXTENSION_PRINTABLE) == 2 * len(EXTENSION_PRINTABLE)
    assert septets("Harga {pupuk} 5€") == 16 + 3


@pytest.mark.parametrize(
    "char",
    ["°", "…", "µ", "²", "\u2013", "\u2019", "“", "`", "ç", "á", "\x1b", "🌾", "中", "\u0301"],
)
def test_characters_outside_the_default_alphabet_are_not_gsm7(char: str) -> None:
    assert not is_gsm7(f"Suhu 31{char}")
    with pytest.raises(ValueError, match="GSM-7"):
        septets(char)


def test_the_empty_text_is_one_sms() -> None:
    assert is_gsm7("")
    assert septets("") == 0
    assert sms_parts("") == 1


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),  # 2 x 153
        ("a" * 307, 3),
        ("€" * 80, 1),  # 160 septets
        ("€" + "a" * 159, 2),  # 161 septets in 160 characters
        ("€" * 81, 2),  # 162 septets: 76 + 5 characters
        ("€" * 153, 3),  # 306 septets, yet an escape pair is never split: 76 + 76 + 1
        ("a" * 152 + "€" + "a" * 152, 3),  # 306 septets: 152 | 2 + 151 | 1
    ],
)
def test_gsm7_parts(text: str, parts: int) -> None:
    assert sms_parts(text) == parts


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("°" * 70, 1),
        ("°" * 71, 2),
        ("°" * 134, 2),  # 2 x 67
        ("°" * 135, 3),
        ("a" * 153 + "°", 3),  # the alert of the bug report: one "°" in 154 characters
        ("🌾" * 35, 1),  # 70 UTF-16 code units
        ("🌾" * 36, 2),
        ("a" * 66 + "🌾" + "a" * 3, 2),  # 71 units: 66 | 2 + 3
        ("a" * 66 + "🌾" + "a" * 66, 3),  # 134 units, a surrogate pair never split: 66 | 67 | 1
    ],
)
def test_ucs2_parts(text: str, parts: int) -> None:
    assert sms_parts(text) == parts


def test_a_single_non_gsm_character_switches_the_whole_text_to_ucs2() -> None:
    body = "KRITIS: Suhu udara 31,5 C > 30 C sejak 09:15 WIB. " + "x" * 104
    assert len(body) == 154
    assert sms_parts(body) == 1
    with_degree = body.replace(" C ", "°C ", 1)  # same length, one non-GSM character
    assert len(with_degree) == 154
    assert sms_parts(with_degree) == 3


@pytest.mark.parametrize(
    ("text", "gsm"),
    [
        ("Sukamaju\u2013Baru", "Sukamaju-Baru"),
        ("Ahmad Ṣāliḥ", "Ahmad Salih"),
        ("Désa Bénteng", "Désa Bénteng"),  # é is in the default alphabet: kept
        ("François Ñoño", "Francois Ñoño"),
        ("“Sawah” \u2018Atas\u2019 `B`", "\"Sawah\" 'Atas' 'B'"),
        ("Blok…", "Blok..."),
        ("25 µS/cm, 3 m²", "25 uS/cm, 3 m2"),
        ("Łukasz Œuvre \u0131", "Lukasz OEuvre i"),
        ("Sawah 🌾🌾 Padi", "Sawah ? Padi"),
        ("稻田", "?"),
        ("Harga {pupuk} 5€", "Harga {pupuk} 5€"),
        ("\uff37\uff41\uff59 \uff2b\uff41\uff4e\uff41\uff4e", "Way Kanan"),  # full width,
    ],
)
def test_to_gsm7_keeps_what_it_can_and_transliterates_the_rest(text: str, gsm: str) -> None:
    assert to_gsm7(text) == gsm


@given(st.text())
def test_to_gsm7_always_gives_gsm7(text: str) -> None:
    converted = to_gsm7(text)
    assert is_gsm7(converted)
    if is_gsm7(text):
        assert converted == text


@given(st.text())
def test_parts_follow_the_encoding_limits(text: str) -> None:
    parts = sms_parts(text)
    if is_gsm7(text):
        size, single, per_part = septets(text), 160, 153
    else:
        size, single, per_part = len(text.encode("utf-16-le")) // 2, 70, 67
    if size <= single:
        assert parts == 1
    else:
        # At least the plain division; at most one part more for each unsplittable pair.
        assert -(-size // per_part) <= parts <= -(-size // (per_part - 1))

"""SMS encoding arithmetic: which texts are GSM-7, how many septets, how many parts.

An SMS carries 140 octets. A text made only of the GSM 03.38 (3GPP TS 23.038) default
alphabet goes as 7-bit septets: 160 in one SMS. A single character outside it sends the whole
text as UCS-2, two octets a character: 70 in one SMS. Longer texts are split into parts that each
lose 6 octets to the concatenation header: 153 septets or 67 UCS-2 units a part. An operator
bills every part, so "°" in a 154-character alert makes it three SMS instead of one.

The national language shift tables of TS 23.038 (Turkish, Spanish, Portuguese, Indian
scripts) are left out: Indonesian needs none, and SMS gateways rarely use them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

# The basic character set, indexed by septet (TS 23.038 section 6.2.1). 0x1B is the escape to
# the extension table, not a character of its own.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
_ESCAPE = 0x1B

# The basic character set extension (section 6.2.1.1): escape + septet, so two septets each.
GSM7_EXTENSION: Mapping[int, str] = {
    0x0A: "\f",  # page break
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

# Septets per character of the default alphabet.
_SEPTETS: dict[str, int] = {
    **{char: 1 for code, char in enumerate(GSM7_BASIC) if code != _ESCAPE},
    **{char: 2 for char in GSM7_EXTENSION.values()},
}

GSM7_SINGLE, GSM7_PER_PART = 160, 153  # 140 octets; 134 after the 6-octet concatenation header
UCS2_SINGLE, UCS2_PER_PART = 70, 67

# Close GSM-7 stand-ins for what NFKD does not reduce to GSM-7 (dashes, curly quotes, letters
# with strokes); anything else becomes "?".
_STAND_INS: Mapping[str, str] = {
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043•", "-"),
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4`", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    "\u2044": "/",  # fraction slash, from NFKD of "½"
    "\u00b7": ".",  # middle dot
    "\u00d7": "x",  # multiplication sign
    "\u03bc": "u",  # Greek mu: NFKD of the micro sign "µ"
    "\u0131": "i",  # dotless i
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "ħ": "h",
    "Ħ": "H",
    "œ": "oe",
    "Œ": "OE",
    "þ": "th",
    "Þ": "Th",
    "ð": "d",
}
_UNKNOWN = "?"


def is_gsm7(text: str) -> bool:
    """Whether ``text`` can go in the GSM 03.38 default alphabet (7-bit, no UCS-2)."""
    return all(char in _SEPTETS for char in text)


def septets(text: str) -> int:
    """How many septets ``text`` takes in GSM-7: extension characters ("€", "{", ...) take two.

    Raises ValueError for a character outside the default alphabet: such a text is UCS-2 and
    has no septet count.
    """
    try:
        return sum(_SEPTETS[char] for char in text)
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]!r} is not in the GSM-7 default alphabet") from None


def sms_parts(text: str) -> int:
    """How many SMS ``text`` goes out as: GSM-7 if it can, else UCS-2 (UTF-16 code units).

    An escape sequence or a surrogate pair is never split between two parts, so a part may
    hold one unit less than its limit.
    """
    if is_gsm7(text):
        costs = [_SEPTETS[char] for char in text]
        single, per_part = GSM7_SINGLE, GSM7_PER_PART
    else:
        costs = [2 if ord(char) > 0xFFFF else 1 for char in text]
        single, per_part = UCS2_SINGLE, UCS2_PER_PART
    if sum(costs) <= single:
        return 1
    return _parts(costs, per_part)


def _parts(costs: Iterable[int], per_part: int) -> int:
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    return parts


def to_gsm7(text: str) -> str:
    """``text`` in the default alphabet, as close as it goes: never UCS-2 because of one name.

    GSM-7 characters stay ("é", "Ñ", "€"). Others lose their accents (NFKD, then combining
    marks dropped: "ṣ" -> "s", a full-width "A" -> "A", "…" -> "..."), take a stand-in (an en
    dash -> "-", curly quotes -> '"'), or become "?" (emoji, other scripts): one "?" for a run.
    """
    out: list[str] = []
    unknown = False  # the last character written is a "?" standing for something
    for char in text:
        for part in (char,) if char in _SEPTETS else unicodedata.normalize("NFKD", char):
            if unicodedata.category(part).startswith("M") and part not in _SEPTETS:
                continue  # an accent or other combining mark: the letter reads without it
            known = part in _SEPTETS or part in _STAND_INS
            if known:
                out.append(_STAND_INS.get(part, part))
            elif not unknown:
                out.append(_UNKNOWN)
            unknown = not known
    return "".join(out)

"""Checks every page test makes: the page fits a cheap phone's screen."""

from __future__ import annotations

from playwright.sync_api import Page

# A cheap Android phone's screen, in CSS pixels.
PHONE = {"width": 360, "height": 740}

# Elements whose right edge is past the screen, innermost first: what to fix.
_OVERFLOWING = """(limit) => [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > limit + 0.5)
    .filter((e) => ![...e.children].some((c) => c.getBoundingClientRect().right > limit + 0.5))
    .slice(0, 5)
    .map((e) => `<${e.localName} class="${e.className}"> right edge at `
        + `${Math.round(e.getBoundingClientRect().right)} px: ${e.textContent.trim().slice(0, 40)}`)
"""


# Table cells allowed to break words, and boxes that scroll sideways: a phone's table should
# neither chop "kelembapan" into "kelemba-/pan" nor hide columns off to the side.
_BROKEN_OR_HIDDEN = """() => [
    ...[...document.querySelectorAll("table *")]
        .filter((e) => {
            const style = getComputedStyle(e);
            return ["anywhere", "break-word"].includes(style.overflowWrap)
                || ["break-all", "break-word"].includes(style.wordBreak);
        })
        .map((e) => `<${e.localName}> may break words: ${e.textContent.trim().slice(0, 40)}`),
    ...[...document.querySelectorAll("body *")]
        .filter((e) => ["auto", "scroll"].includes(getComputedStyle(e).overflowX))
        .filter((e) => e.scrollWidth > e.clientWidth + 1)
        .map((e) => `<${e.localName} class="${e.className}"> scrolls sideways`
            + ` (${e.scrollWidth} px in ${e.clientWidth} px)`),
].slice(0, 5)
"""


def assert_fits_the_phone(page: Page) -> None:
    """Nothing wider than the screen: no sideways scrolling on a 360 px phone, no box that
    scrolls sideways, no table that breaks words to fit."""
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        culprits = page.evaluate(_OVERFLOWING, PHONE["width"])
        raise AssertionError(
            f"{page.url} is {width} px wide on a {PHONE['width']} px screen: {culprits}"
        )
    hidden = page.evaluate(_BROKEN_OR_HIDDEN)
    assert not hidden, f"{page.url} on a {PHONE['width']} px screen: {hidden}"

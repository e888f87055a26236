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


def assert_fits_the_phone(page: Page) -> None:
    """Nothing wider than the screen: no sideways scrolling on a 360 px phone."""
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        culprits = page.evaluate(_OVERFLOWING, PHONE["width"])
        raise AssertionError(
            f"{page.url} is {width} px wide on a {PHONE['width']} px screen: {culprits}"
        )

"""What farmers put on a field, by the names they use: liming materials (and crops, for the
planting records), so a phone form can accept "kapur dolomit" or "Dolomite" alike."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agronomy.crops import CROPS


@dataclass(frozen=True, slots=True)
class LimeProduct:
    """A liming material farmers buy, by the names they use for it."""

    id: str
    name_id: str
    name_en: str
    aliases: tuple[str, ...]


# Sold in Lampung's farm shops. Judgement: the names on the sacks and in the extension leaflets
# (Cybex Kementan: "kapur pertanian (kaptan)", "dolomit").
LIME_PRODUCTS: dict[str, LimeProduct] = {
    lime.id: lime
    for lime in (
        LimeProduct("dolomit", "dolomit", "dolomite", ("kapur dolomit", "dolomite lime")),
        LimeProduct(
            "kaptan",
            "kapur pertanian (kaptan)",
            "agricultural lime (calcite)",
            ("kapur pertanian", "kalsit", "calcite", "agricultural lime", "kapur karbonat"),
        ),
        LimeProduct("kapur_tohor", "kapur tohor", "quicklime", ("kapur hidup", "quicklime")),
        LimeProduct(
            "kapur_padam",
            "kapur padam",
            "slaked lime",
            ("kapur mati", "hydrated lime", "slaked lime"),
        ),
    )
}


def _key(text: str) -> str:
    return re.sub(r"[\s_()-]+", " ", text).strip().casefold()


_CROP_NAMES = {
    _key(name): crop.id for crop in CROPS.values() for name in (crop.id, crop.name_id, crop.name_en)
}
_LIME_NAMES = {
    _key(name): lime.id
    for lime in LIME_PRODUCTS.values()
    for name in (lime.id, lime.name_id, lime.name_en, *lime.aliases)
}


def crop_for(text: str) -> str | None:
    """The crop id a farmer means by an id or a name in either language, if any."""
    return _CROP_NAMES.get(_key(text))


def lime_for(text: str) -> str | None:
    """The lime id a farmer means by its id, name or a usual other name, if any."""
    return _LIME_NAMES.get(_key(text))

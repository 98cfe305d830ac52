"""Which paper table row a run reproduces, and whether its data has the form the authors trained on.

Facts from spec/paper.md (A.1, B, D) and spec/variants.md. The authors' stages 1-5 come from their
on-the-fly dataset, fresh random videos every epoch (`--virtual_dataset_size 9537`): `procedural:<variant>`
here. Stages 6-8 are fixed sets of 9,537 videos made by their offline generator: a shard set built with
`synthvid-factory build --videos 9537` here. For the other variants the paper does not say; their form is
taken from the stage they extend (solid shapes: on the fly; objects filled from a pool: a fixed set) and
marked as inferred. (The authors' 5 % static-image videos come from the on-the-fly class, `--mixed_ratio`.)
"""

from __future__ import annotations

from typing import NamedTuple

from .data import ProceduralStream

ON_THE_FLY, FIXED = "on-the-fly", "fixed"
PAPER_VIDEOS = 9537


class PaperRow(NamedTuple):
    table: str
    row: str
    ucf101_ft: float      # ViT-B, UCF101 fine-tune top-1 %
    form: str             # the authors' data: ON_THE_FLY or FIXED
    stated: bool          # the form is stated in the paper (stages 1-8), else inferred from the base stage


def _row(table, row, ft, form, stated=False):
    return PaperRow(table, row, ft, form, stated)


ROWS = {
    "static-circles": _row("Fig 2 / Tab 1", "Static circles", 67.8, ON_THE_FLY, True),
    "moving-circles": _row("Fig 2 / Tab 1", "Moving circles", 85.2, ON_THE_FLY, True),
    "moving-shapes": _row("Fig 2 / Tab 1", "Moving shapes", 86.9, ON_THE_FLY, True),
    "transforming-shapes": _row("Fig 2 / Tab 1", "Moving & transforming shapes", 87.7, ON_THE_FLY, True),
    "accelerating-shapes": _row("Fig 2 / Tab 1", "Acc. & transforming shapes", 88.1, ON_THE_FLY, True),
    "accelerating-textures": _row("Fig 2 / Tab 1", "Acc. & transforming textures", 89.4, FIXED, True),
    "accelerating-stylegan": _row("Fig 2 / Tab 1", "Acc. & transforming StyleGAN crops", 90.2, FIXED, True),
    "accelerating-image-crops": _row("Fig 2 / Tab 1", "Acc. & transforming image crops", 91.3, FIXED, True),
    "moving-circles-slow": _row("Tab 9", "slower speed: moving circles", 84.9, ON_THE_FLY),
    "moving-shapes-slow": _row("Tab 9", "slower speed: moving shapes", 88.3, ON_THE_FLY),
    "transforming-shapes-slow": _row("Tab 9", "slower speed: moving & transforming shapes", 88.3, ON_THE_FLY),
    "accelerating-shapes-slow": _row("Tab 9", "slower speed: acc. transforming shapes", 88.6, ON_THE_FLY),
    "accelerating-textures-slow": _row("Tab 9", "slower speed: acc. transforming textures", 90.9, FIXED),
    "accelerating-shapes-static-images": _row("Tab 2", "replacing 5% of videos with static images", 88.5, ON_THE_FLY),
    "accelerating-shapes-static-stylegan": _row("Tab 10", "5% static StyleGAN images", 88.2, ON_THE_FLY),
    "dynamic-stylegan-crops": _row("Tab 3", "dynamic StyleGAN crops", 89.2, FIXED),
    "dynamic-stylegan-videos": _row("Tab 3", "dynamic StyleGAN videos", 68.7, FIXED),
    "image-stylegan-crops": _row("Tab 2", "150k images + 150k StyleGAN", 90.6, FIXED),
    "image-texture-crops": _row("Tab 10", "150k images + 150k statistical textures", 89.7, FIXED),
    "image-crops-colour-bg": _row("Tab 10", "300k images, random background colour", 89.9, FIXED),
    "image-crops-image-bg": _row("Tab 10", "300k images, random image background", 91.0, FIXED),
    "saturated-textures": _row("Tab 12", "saturated statistical textures", 88.9, FIXED),
    "saturated-textures-colour-bg": _row("Tab 12", "saturated stat. textures, coloured background", 87.8, FIXED),
    "saturated-dynamic-stylegan-crops": _row("Tab 12", "saturated moving dynamic StyleGAN crops", 87.5, FIXED),
    "saturated-image-crops": _row("Tab 12", "saturated 300k image crops", 90.1, FIXED),
    "saturated-image-texture-crops": _row("Tab 12", "saturated 150k image crops + 150k stat. textures", 89.2,
                                          FIXED),
    "saturated-image-crops-colour-bg": _row("Tab 12", "saturated 300k crops, coloured background", 89.5, FIXED),
    "saturated-image-crops-image-bg": _row("Tab 12", "saturated 300k crops, image background", 89.5, FIXED),
}


def _form_note(row: PaperRow, procedural: bool, videos: int | None) -> str:
    how = "stated" if row.stated else "inferred from its base stage"
    if row.form == ON_THE_FLY:
        authors = f"the authors rendered fresh videos every epoch ({how})"
        return (f"matches the authors' form: {authors}" if procedural else
                f"differs from the authors' form: {authors}; --data procedural:<variant> does the same")
    authors = f"the authors trained on a fixed set of {PAPER_VIDEOS:,} videos ({how})"
    if procedural:
        return f"differs from the authors' form: {authors}; build it with synthvid-factory and train on the shards"
    if videos is not None and videos != PAPER_VIDEOS:
        return f"differs from the authors' form: {authors}, this set holds {videos:,}"
    return f"matches the authors' form: {authors}"


def describe(source) -> str | None:
    """One line on the paper row a source reproduces, or None when it is not a paper variant."""
    procedural = isinstance(source, ProceduralStream)
    card = {} if procedural else getattr(getattr(source, "ds", None), "card", {})
    variant = source.variant if procedural else card.get("variant")
    row = ROWS.get(variant)
    if row is None:
        return None
    line = (f"{source.name} reproduces paper {row.table}, row '{row.row}' (ViT-B UCF101 fine-tune {row.ucf101_ft}); "
            + _form_note(row, procedural, card.get("videos")))
    changed = source.params if procedural else (card.get("recipe") or {}).get("overrides")
    if changed:
        line += "; built with non-paper parameters " + ", ".join(f"{k}={v}" for k, v in sorted(changed.items()))
    return line

"""Every number quoted from the paper (Zhang, Sui, Yeung-Levy, ICLR 2024), once, with where it is printed.

Chapters read the paper's values from here and nowhere else; ``tests/test_paper.py`` checks that each value,
written as the paper prints it (:func:`quotes`), appears in ``shared/paper/c3-paper.md``. Numbers that come
from elsewhere (CLIP's temperature clamp, CapDec's noise variance, LAFITE's perturbation level) are not the
paper's and live with the code that uses them.
"""

from __future__ import annotations

from typing import Iterator

# The captioning tables' metric order (Tables 2, 5 and 7): BLEU-1, BLEU-4, METEOR, ROUGE-L, CIDEr, SPICE.
TABLE_METRICS = ("BLEU-1", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "SPICE")

# ---- Section 3.1, Fig 3: random-init CLIP (d = 512) on MS-COCO, effective dimensions at 99 % --------------
EFFECTIVE_DIM = {"image": 25, "text": 230, "shared_bound": 255, "d": 512}
# Definition 1's gamma: the effective dims carry this share of the variance, the rest "can be viewed as constant"
EFFECTIVE_DIM_GAMMA = 0.99

# ---- Section 3.1, Fig 4: the simulation of the gap under contrastive optimisation -------------------------
SIMULATION = {"n": 1000, "d": 512, "num_steps": 200_000, "lr": 0.1, "tau": 0.07,
              "gap_init_overall": 1.21, "gap_init_ineffective": 0.99, "gap_after": 0.82,
              "effective_dims": 255, "ineffective_dims": 257}

# ---- Table 1: CLIP ViT-B/32 on MS-COCO, groups of 100 pairs: (mean, std) over groups -----------------------
TABLE1 = {"gap_length": (0.83, 0.01), "gap_direction": (0.99, 0.00), "orthogonality": (0.00, 0.06),
          "noise_mean": (0.00, 0.00), "noise_direction": (0.00, 0.10)}
TABLE1_GROUP = 100
TABLE1_NOISE_MEAN_BOUND = 1e-8  # Appendix C (Fig 8): each dimension's noise mean lies within +-1e-8
GAP_LENGTH = TABLE1["gap_length"][0]  # CLIP's gap length: the unit of Table 6's ||c|| in chapter 10

# ---- Table 2: image-free captioning on MS-COCO (CLIP ViT-B/32 + GPT-2), TABLE_METRICS order -----------------
TABLE2 = {
    "C1": (28.1, 2.4, 12.2, 25.4, 13.0, 6.8),
    "C2-collapse": (44.4, 6.1, 15.5, 33.6, 25.2, 9.2),
    "C2-corrupt": (69.0, 25.5, 24.3, 50.8, 87.6, 17.6),
    "C3": (71.0, 27.7, 25.0, 52.0, 93.3, 18.3),
}
TABLE2_C3_STD = (0.1, 0.1, 0.0, 0.0, 0.3, 0.1)  # "Std with 3 runs"

# ---- Table 3: text-to-image on MS-COCO (CLIP ViT-B/32 + LAFITE): (FID, IS) --------------------------------
TABLE3 = {"C1": (29.8, 22.4), "C2-collapse": (21.7, 24.4), "C2-corrupt": (19.8, 25.5), "C3": (19.6, 26.0),
          "LAFITE": (20.9, 24.9), "DALL-E": (27.5, 17.9), "CogView": (27.1, 18.2)}

# ---- Table 4: ImageBind; image MS-COCO, audio Clotho, video MSR-VTT: (BLEU-1, METEOR, ROUGE-L) -------------
TABLE4_METRICS = ("BLEU-1", "METEOR", "ROUGE-L")
TABLE4 = {
    "image": {"C1": (33.5, 12.9, 25.8), "C2-collapse": (53.8, 17.4, 38.6), "C2-corrupt": (64.4, 22.2, 45.8),
              "C3": (74.0, 26.6, 54.0)},
    "audio": {"C1": (21.8, 17.3, 18.1), "C2-collapse": (26.7, 20.0, 21.4), "C2-corrupt": (27.6, 20.0, 20.6),
              "C3": (29.5, 20.1, 23.0)},
    "video": {"C1": (16.7, 12.6, 15.2), "C2-collapse": (25.1, 17.8, 23.1), "C2-corrupt": (25.2, 18.1, 23.8),
              "C3": (31.4, 20.0, 26.9)},
}

# Fig 9: the gap length between each ImageBind modality and text, read off the figure's bars (image, audio and
# video all sit in this range); chapter 05 sets its bound spaces' gap to text beside it.
FIG9_TEXT_GAP = (0.8, 1.0)

# ---- Table 5 (Appendix E, Fig 6): fine-tuning on 1-100 % of MS-COCO's pairs, TABLE_METRICS order -----------
TABLE5 = {
    1.0: {"ClipCap": (64.5, 21.2, 21.2, 47.6, 71.1, 14.7), "C1": (66.5, 22.9, 22.6, 48.7, 78.5, 15.9),
          "C2-collapse": (66.8, 23.0, 22.6, 48.7, 78.5, 15.9), "C2-corrupt": (71.7, 28.8, 25.3, 52.7, 96.3, 18.3),
          "C3": (71.9, 28.9, 25.3, 52.7, 96.4, 18.3)},
    5.0: {"ClipCap": (70.1, 26.4, 24.0, 51.3, 89.4, 17.3), "C1": (70.6, 27.0, 24.5, 51.6, 91.6, 17.8),
          "C2-collapse": (70.7, 27.1, 24.6, 51.7, 92.1, 17.9), "C2-corrupt": (72.1, 29.3, 25.6, 53.1, 98.2, 18.7),
          "C3": (72.3, 29.4, 25.7, 53.1, 98.8, 18.8)},
    25.0: {"ClipCap": (73.0, 30.0, 26.0, 53.7, 101.7, 19.1), "C1": (73.2, 30.4, 26.1, 53.9, 102.8, 19.4),
           "C2-collapse": (73.1, 30.2, 26.1, 53.8, 102.4, 19.3), "C2-corrupt": (73.2, 30.9, 26.3, 54.2, 103.1, 19.3),
           "C3": (73.4, 31.1, 26.3, 54.3, 103.6, 19.4)},
    100.0: {"ClipCap": (74.0, 31.5, 26.8, 54.7, 106.6, 19.9), "C1": (74.6, 32.4, 27.2, 55.2, 109.7, 20.3),
            "C2-collapse": (74.6, 32.3, 27.1, 55.2, 109.2, 20.1), "C2-corrupt": (74.1, 32.2, 27.1, 55.2, 108.8, 20.2),
            "C3": (74.0, 32.2, 27.1, 55.2, 108.9, 20.2)},
}
CLIPCAP_SUPERVISED_CIDER = TABLE5[100.0]["ClipCap"][4]  # ClipCap on all pairs: the paper's supervised ceiling

# ---- Table 6 (Appendix G): a caption decoder on CLIP text embeddings x, tested on x + c ---------------------
TABLE6_METRICS = ("ROUGE-1", "ROUGE-L", "METEOR")
TABLE6 = {0.0: (85.5, 81.2, 83.1), 0.2: (76.3, 71.5, 73.8), 0.4: (55.8, 50.6, 52.5), 0.6: (40.6, 35.9, 36.6),
          0.8: (30.5, 26.7, 26.5), 1.0: (24.1, 21.0, 20.3), 1.5: (16.6, 14.4, 13.8), 2.0: (13.8, 12.1, 11.6)}

# ---- Table 7 (Appendix H): corrupt with the noise along the gap removed, TABLE_METRICS order ---------------
TABLE7_SPAN_ONLY = (41.2, 6.2, 14.9, 33.6, 22.8, 8.3)
TABLE7 = {**TABLE2, "span-only": TABLE7_SPAN_ONLY}

# ---- Derived from the above (never typed twice) ----------------------------------------------------------
GAP_COST = 1 - TABLE2["C1"][4] / CLIPCAP_SUPERVISED_CIDER  # 1 - CIDEr(C1) / CIDEr(supervised ClipCap)


def table_row(table: dict, variant: str, metric: str, metrics: tuple[str, ...] = TABLE_METRICS) -> float:
    """One cell of a captioning table, e.g. ``table_row(TABLE2, "C3", "CIDEr")`` = 93.3."""
    return table[variant][metrics.index(metric)]


def quotes() -> Iterator[tuple[str, str]]:
    """``(where, text)`` for every number above, written as the paper prints it: for the test that checks
    each one against the paper's text."""
    for k, v in EFFECTIVE_DIM.items():
        yield "Section 3.1 (Fig 3)", str(v)
    yield "Section 3.1 (Definition 1)", f"{EFFECTIVE_DIM_GAMMA:g}"
    yield "Section 3.1 (Fig 4)", "1,000"
    yield "Section 3.1 (Fig 4)", "200K"
    for k in ("lr", "tau", "gap_init_overall", "gap_init_ineffective", "gap_after", "effective_dims",
              "ineffective_dims", "d"):
        yield "Section 3.1 (Fig 4)", f"{SIMULATION[k]:g}"
    for mean, std in TABLE1.values():
        yield "Table 1", f"{mean:.2f} {std:.2f}"
    yield "Table 1", str(TABLE1_GROUP)
    yield "Appendix C (Fig 8)", f"{TABLE1_NOISE_MEAN_BOUND:.0e}".replace("e-0", "e-")
    for where, table in (("Table 2", TABLE2), ("Table 3", TABLE3), ("Table 7", TABLE7)):
        for row in table.values():
            yield from ((where, f"{v:.1f}") for v in row)
    yield from (("Table 2", f"{v:.1f}") for v in TABLE2_C3_STD)
    for rows in TABLE4.values():
        for row in rows.values():
            yield from (("Table 4", f"{v:.1f}") for v in row)
    for rows in TABLE5.values():
        for row in rows.values():
            yield from (("Table 5", f"{v:.1f}") for v in row)
    for norm, row in TABLE6.items():
        yield "Table 6", f"{norm:.1f}"
        yield from (("Table 6", f"{v:.1f}") for v in row)

"""Chapter 05's settings: its config, the paper's values it quotes, and the project's own targets for the
CLIP-recipe spaces (ours, not the paper's). Each space's modalities and recipe are its registry record."""

from __future__ import annotations

import dataclasses

from c3lib import paper
from c3lib.config import ChapterConfig
from c3lib.contrastive import TrainSpec
from c3lib.spaces import CLIP_GAP_TARGET, SPACES, SpaceConfig

NAME = "05_connect"  # the results file's name

# Section 3.1 and Table 1 (CLIP ViT-B/32 on MS-COCO, groups of 100 pairs), from c3lib.paper
PAPER = {"claim": "a modality gap exists at initialisation and is preserved by training",
         "table1": {"gap_length": paper.TABLE1["gap_length"][0], "gap_direction_cos": paper.TABLE1["gap_direction"][0],
                    "orthogonality_mean": paper.TABLE1["orthogonality"][0],
                    "orthogonality_std": paper.TABLE1["orthogonality"][1],
                    "noise_direction_mean": paper.TABLE1["noise_direction"][0]},
         "table1_group": paper.TABLE1_GROUP,
         "simulation_gap_ineffective": {"init": paper.SIMULATION["gap_init_ineffective"],
                                        "after": paper.SIMULATION["gap_after"]},
         "fig9_text_gap": paper.FIG9_TEXT_GAP}

# Pretrained CLIP's temperature: its released logit scale sits at CLIP's clamp (Radford et al. 2021), the
# clamp our CLIP recipe trains with (c3lib.contrastive.TrainSpec): a known setting, not measured here.
CLIP_TEMPERATURE = 1 / TrainSpec.max_logit_scale

# The project's targets for the two spaces built to stand in for CLIP (flickr8k-clip, world-clip), so that the
# later chapters stand on a space whose gap costs something. Not the paper's claims: CLIP's Table 1 geometry
# with a margin, set from that table and never from these spaces' results. A gap of CLIP's order (at least about three
# quarters of Table 1's length), nearly one direction across groups, orthogonal to the embeddings'
# differences within CLIP's own spread, and CLIP's temperature regime (at most twice its clamp).
# Each: (key of the space's row, comparison, bound).
TARGETS = (("gap_length", ">=", CLIP_GAP_TARGET), ("gap_direction_cos", ">=", 0.9),
           ("orthogonality_mean", "|<=|", 0.05), ("temperature", "<=", 0.02))


@dataclasses.dataclass(frozen=True)
class ConnectConfig(ChapterConfig):
    space: SpaceConfig = dataclasses.field(default_factory=SpaceConfig)  # every space's settings, per preset
    spaces: tuple[str, ...] = SPACES  # which spaces to train
    group_size: int = 100  # Table 1: pairs per group (the paper's 100)
    sweep_temperatures: tuple[float, ...] = (0.07, 0.03, 0.01)  # Fig 5: starting tau of each CLIP space's head
    sweep_world: bool = True  # sweep world-clip's chosen head too (as flickr8k-clip's)

    PRESETS = {"smoke": {"group_size": 16, "sweep_temperatures": (0.07, 0.01)}, "default": {}, "paper": {}}

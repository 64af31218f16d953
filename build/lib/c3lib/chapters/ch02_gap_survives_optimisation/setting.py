"""Chapter 02's settings: its config (one block per preset) and the paper's values it quotes."""

from __future__ import annotations

from dataclasses import dataclass

from c3lib import paper
from c3lib.checks import AT_LEAST_1, POSITIVE
from c3lib.config import ChapterConfig

NAME = "02_gap_survives_optimisation"  # the results file's name

# Section 3.1 (Fig 4): the simulation's settings and gaps, and Definition 1's gamma, from c3lib.paper
PAPER = {**{k: paper.SIMULATION[k] for k in ("gap_init_overall", "gap_init_ineffective", "gap_after", "num_steps",
                                             "n")},
         "effective_dim_gamma": paper.EFFECTIVE_DIM_GAMMA}


@dataclass(frozen=True)
class GapSurvivesConfig(ChapterConfig):
    """Chapter 02 (Fig 4): the gap survives contrastive optimisation."""

    n: int = 200  # pairs (paper: 1000)
    d: int = 512  # embedding dimension
    img_dims: int = 25  # dims where images vary (random-init CLIP's effective image dim)
    txt_dims: int = 230  # the next dims, where texts vary
    num_steps: int = 20_000  # SGD steps (paper: 200k)
    lr: float = 0.1  # plain SGD learning rate
    tau: float = 0.07  # fixed temperature (CLIP's initial value)
    log_every: int = 500  # record the trace every k steps
    dtype: str = "float64"  # float64 keeps rounding in the ineffective block below 1e-6; float32 is ~2x faster
    checkpoint_every: int = 5000  # save the state under runs/02_simulation/<config hash>/ every k steps; 0: never
    shared_dims: int = 255  # the paper's own layout: both modalities vary in the first 255 dims (d_e = 255)
    shared_steps: int = 10_000  # SGD steps of that second run

    RANGES = {**dict.fromkeys(("n", "d", "img_dims", "txt_dims", "num_steps", "log_every", "shared_dims", "shared_steps"),
                             AT_LEAST_1), "lr": POSITIVE, "tau": POSITIVE}

    PRESETS = {
        "smoke": {"n": 64, "num_steps": 400, "log_every": 50, "checkpoint_every": 0, "shared_steps": 200},
        "default": {},
        "paper": {"n": 1000, "num_steps": 200_000, "log_every": 2000, "dtype": "float32", "checkpoint_every": 10_000,
                  "shared_steps": 200_000},
    }

    def blocks_space(self) -> str:
        """The name of the chapter's own layout in its claims."""
        return f"own blocks: images vary in {self.img_dims} dims, texts in the next {self.txt_dims}"

    def shared_space(self) -> str:
        """The name of the paper's layout in its claims."""
        return f"the paper's layout: both vary in the first {self.shared_dims} dims"

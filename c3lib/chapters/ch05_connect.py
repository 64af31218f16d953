"""Chapter 05, Connect (paper section 2.3): train the contrastive spaces every later chapter stands on.

The spaces themselves (towers, data, training, the saved runs) live in :mod:`c3lib.spaces`; this chapter
trains each of them for its preset, measures retrieval and the gap before and after training, and times
the world's generators.
"""

from __future__ import annotations

import dataclasses
import time

from c3lib.config import ChapterConfig
from c3lib.data import render as wr
from c3lib.data import world
from c3lib.spaces import SPACES, SpaceConfig

PAPER = {"pretrained_clip_gap": 0.82, "claim": "a modality gap exists at initialisation and is preserved by training"}


@dataclasses.dataclass(frozen=True)
class ConnectConfig(ChapterConfig):
    space: SpaceConfig = dataclasses.field(default_factory=SpaceConfig)  # every space's settings, per preset
    spaces: tuple[str, ...] = SPACES  # which spaces to train


def world_throughput(cfg: SpaceConfig, n: int = 500) -> dict[str, float]:
    """Items per second of world generation for each rendering (measured, single process)."""
    out = {}
    t0 = time.perf_counter()
    scenes = world.sample_scenes(n, "train", cfg.seed)
    world.captions(scenes, cfg.seed)  # timed with the scenes
    out["scenes+captions"] = n / (time.perf_counter() - t0)
    for name, fn in (("image", lambda: wr.render_images(scenes, cfg.image_size)),
                     ("audio", lambda: wr.log_spectrogram(wr.render_audio(scenes))),
                     ("video", lambda: wr.render_video(scenes, cfg.video_size, cfg.n_frames))):
        t0 = time.perf_counter()
        fn()
        out[name] = n / (time.perf_counter() - t0)
    return out

"""The contrastive spaces every chapter from 05 on stands on (paper section 2.3, "Connect").

:mod:`.registry` holds one record per space and the config of them all; :mod:`.data` renders the world and
computes the frozen towers' features; :mod:`.recipes` trains each space by its record's recipe and gives it to
later chapters (:func:`load_or_train_space`). Chapter 05 trains and reports them (as pool jobs,
:mod:`c3lib.space_pool`); trained spaces are saved under ``runs/05_connect/<preset>/<space>-<hash>/``.
"""

from c3lib.spaces.data import (clip_data, flickr_clip_split, flickr_features, modality_input, world_data,
                               world_features)
from c3lib.spaces.recipes import (choose_head, clip_run, gap, load_or_train_space, scratch_clip_space,
                                  train_space, train_spec)
from c3lib.spaces.registry import (BOUND_SPACES, CLIP_GAP_TARGET, CLIP_SPACES, REGISTRY, SPACES, Space, SpaceConfig,
                                   run_dir, space)

__all__ = ["BOUND_SPACES", "CLIP_GAP_TARGET", "CLIP_SPACES", "REGISTRY", "SPACES", "Space", "SpaceConfig",
           "choose_head", "clip_data", "clip_run", "flickr_clip_split", "flickr_features", "gap", "load_or_train_space",
           "modality_input", "run_dir", "scratch_clip_space", "space", "train_space", "train_spec", "world_data",
           "world_features"]

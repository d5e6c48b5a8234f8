"""Predictive maintenance and quality: health, remaining useful life, maintenance plans, defect drivers."""

from .health import Contribution, Health, HealthModel
from .monitor import Assessment, MaintenanceMonitor, MonitorSettings
from .rul import HORIZONS, History, Population, Rul, learn, predict

__all__ = [
    "HORIZONS",
    "Assessment",
    "Contribution",
    "Health",
    "HealthModel",
    "History",
    "MaintenanceMonitor",
    "MonitorSettings",
    "Population",
    "Rul",
    "learn",
    "predict",
]

"""The model file's format: pydantic types for the ISA-95 hierarchy, signals, bindings and sources.

The published JSON Schema (``factorytwin schema``) is generated from these classes; docs/plant-model.md
describes every field.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from ..events import StationState
from .calendar import Calendar
from .sources import Binding, Edge, OpcUaBinding, OpcUaSource, Source
from .types import Id, Seconds, Strict

__all__ = [
    "AlertSettings",
    "AnalyticsSettings",
    "Area",
    "Arrivals",
    "Binding",
    "Buffer",
    "Distribution",
    "Edge",
    "Enterprise",
    "Line",
    "OpcUaBinding",
    "OpcUaSource",
    "PlantModel",
    "Range",
    "Role",
    "Signal",
    "Setup",
    "SignalSim",
    "SignalSpc",
    "Site",
    "Source",
    "SpecLimits",
    "Station",
    "StationSim",
    "VirtualPlant",
    "Wear",
    "WriteLimits",
]


class Role(StrEnum):
    """What a signal means to the twin; analytics find signals by role."""

    STATE = "state"
    GOOD_COUNT = "good_count"
    SCRAP_COUNT = "scrap_count"
    CYCLE_TIME = "cycle_time"
    SPEED = "speed"
    TEMPERATURE = "temperature"
    PRESSURE = "pressure"
    VIBRATION = "vibration"
    MOTOR_CURRENT = "motor_current"
    FLOW = "flow"
    LEVEL = "level"
    SETPOINT = "setpoint"
    QUALITY = "quality"
    OTHER = "other"


# Roles that only make sense on a station, and on a buffer.
STATION_ROLES = frozenset({Role.STATE, Role.GOOD_COUNT, Role.SCRAP_COUNT, Role.CYCLE_TIME, Role.SPEED})
BUFFER_ROLES = frozenset({Role.LEVEL})
# Roles with at most one signal per station or buffer.
SINGLE_ROLES = frozenset({Role.STATE, Role.GOOD_COUNT, Role.SCRAP_COUNT, Role.CYCLE_TIME, Role.SPEED, Role.LEVEL})
INTEGER_ROLES = frozenset({Role.STATE, Role.GOOD_COUNT, Role.SCRAP_COUNT, Role.LEVEL})


class Range(Strict):
    """A normal operating range: values outside it are abnormal."""

    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class SpecLimits(Strict):
    """Specification limits of a quality characteristic (for SPC capability)."""

    lsl: float | None = Field(None, description="Lower specification limit")
    usl: float | None = Field(None, description="Upper specification limit")
    target: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> SpecLimits:
        if self.lsl is not None and self.usl is not None and self.lsl >= self.usl:
            raise ValueError(f"lsl ({self.lsl}) must be below usl ({self.usl})")
        return self


class WriteLimits(Strict):
    """Makes a signal a writable setpoint, and bounds what may be written."""

    min: float
    max: float
    max_step: float | None = Field(None, gt=0, description="Largest change allowed in one write")
    max_rate: float | None = Field(
        None, gt=0, description="Largest change per second between successive writes through the twin"
    )

    @model_validator(mode="after")
    def _ordered(self) -> WriteLimits:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


class SignalSim(Strict):
    """How the virtual plant produces a continuous signal (see docs/plant-model.md, 'physics')."""

    base: float = Field(0.0, description="Value when idle and new (or the initial setpoint)")
    noise: float = Field(0.0, ge=0, description="Standard deviation of measurement noise")
    tau: Seconds = Field(30.0, description="First-order time constant")
    load_gain: float = Field(0.0, description="Added while the station processes a part, times speed")
    wear_gain: float = Field(0.0, description="Added per unit of wear (0 new, 1 worn out)")
    follows: Id | None = Field(None, description="A setpoint signal of the same station this one tracks")


class Signal(Strict):
    """A value a station or buffer provides, with its meaning and context."""

    id: Id
    name: str | None = None
    role: Role = Role.OTHER
    unit: str | None = None
    normal: Range | None = None
    spec: SpecLimits | None = None
    binding: Binding | None = None
    write: WriteLimits | None = None
    edge: Edge | None = Field(None, description="Deadband, compression, intervals, unit conversion")
    spc: SignalSpc | None = Field(None, description="Charting of a quality characteristic")
    states: dict[int, StationState] | None = Field(
        None,
        description="For role 'state': machine code -> state; the default is 0 idle, 1 running, "
        "2 starved, 3 blocked, 4 down, 5 planned_stop, 6 changeover",
    )
    sim: SignalSim = SignalSim()


class Distribution(Strict):
    """A random duration in seconds."""

    dist: Literal["deterministic", "exponential", "normal", "lognormal", "empirical"] = "deterministic"
    mean: Seconds = Field(description="Mean in seconds (for empirical: the mean of values, filled in)")
    cv: float = Field(0.0, ge=0, description="Coefficient of variation (normal, lognormal)")
    values: list[Annotated[float, Field(ge=0)]] | None = Field(
        None, description="Observed durations (empirical: resampled)"
    )

    @model_validator(mode="before")
    @classmethod
    def _empirical_mean(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("dist") == "empirical":
            values = data.get("values")
            if not isinstance(values, list) or not values:
                raise ValueError("an empirical distribution needs a non-empty list of values")
            if all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in values):
                mean = sum(values) / len(values)
                given = data.get("mean", mean)
                if not isinstance(given, int | float) or abs(given - mean) > 1e-9 * max(abs(mean), 1.0):
                    raise ValueError(f"an empirical distribution's mean is that of its values ({mean:g}); omit mean")
                data = {**data, "mean": mean}
            else:  # the values' own errors say what is wrong; do not add one about the mean
                data = {**data, "mean": 1.0}
        return data

    @model_validator(mode="after")
    def _values_only_for_empirical(self) -> Distribution:
        if self.values is not None and self.dist != "empirical":
            raise ValueError(f"values are only for dist: empirical, not {self.dist}")
        return self


class Setup(Strict):
    """A setup (changeover) before the first part of every lot a station processes."""

    time: Distribution = Field(description="Duration of one setup")
    every: int = Field(ge=1, description="Lot size: parts released per lot")


class Wear(Strict):
    """Progressive wear (e.g. of a bearing) in the virtual plant, until the station fails (docs/plant-model.md)."""

    life: Seconds = Field(description="Mean operating seconds from new to failure at 100 % speed")
    spread: float = Field(0.25, ge=0, le=1, description="Coefficient of variation of the life between units")
    noise: float = Field(0.3, ge=0, description="Volatility of the log-wear path per square root of a life")
    speed_exponent: float = Field(2.0, ge=0, description="Wear rate grows with speed ** speed_exponent")
    repair: Seconds = Field(7200.0, description="Repair time after a wear failure")
    service: Seconds = Field(1800.0, description="Duration of a planned maintenance that renews the wear")


class StationSim(Strict):
    """How a station behaves in the simulation and the virtual plant."""

    processing_time: Distribution
    mtbf: Seconds | None = Field(None, description="Mean time between failures (exponential)")
    mttr: Seconds | None = Field(None, description="Mean time to repair (exponential)")
    time_to_failure: Distribution | None = Field(None, description="Time between failures, instead of mtbf")
    time_to_repair: Distribution | None = Field(None, description="Repair time, instead of mttr")
    failure_mode: Literal["operation", "time"] = Field(
        "operation",
        description="operation: the failure clock runs while processing; time: it runs all (planned) time",
    )
    scrap_rate: float = Field(0.0, ge=0, lt=1)
    setup: Setup | None = Field(None, description="Setup/changeover before each lot")
    machines: int = Field(1, ge=1, description="Identical machines working in parallel at this station")
    wear: Wear | None = Field(None, description="Wear until failure, in the virtual plant (not in simulate/whatif)")

    @model_validator(mode="after")
    def _paired(self) -> StationSim:
        if (self.mtbf is None) != (self.mttr is None):
            raise ValueError("mtbf and mttr must be given together")
        if (self.time_to_failure is None) != (self.time_to_repair is None):
            raise ValueError("time_to_failure and time_to_repair must be given together")
        if self.mtbf is not None and self.time_to_failure is not None:
            raise ValueError("give failures either as mtbf/mttr or as time_to_failure/time_to_repair, not both")
        return self

    def failure_law(self) -> tuple[Distribution, Distribution] | None:
        """Time-to-failure and time-to-repair distributions, or None for a station that never fails."""
        if self.time_to_failure is not None and self.time_to_repair is not None:
            return self.time_to_failure, self.time_to_repair
        if self.mtbf is not None and self.mttr is not None:
            return Distribution(dist="exponential", mean=self.mtbf), Distribution(dist="exponential", mean=self.mttr)
        return None


class Station(Strict):
    """A machine or work cell on a line (ISA-95 work unit)."""

    id: Id
    name: str | None = None
    kind: str | None = Field(None, description="Free text, e.g. filler, capper, cnc")
    sim: StationSim
    signals: list[Signal] = Field(default_factory=list)


class Buffer(Strict):
    """A conveyor or store between two stations; blocking after service."""

    id: Id
    name: str | None = None
    upstream: Id
    downstream: Id
    capacity: int = Field(ge=0, description="Parts it holds besides the machines (0: direct hand-over)")
    signals: list[Signal] = Field(default_factory=list)


class Arrivals(Strict):
    """A release schedule: a batch of parts every interval, the first at the start."""

    interval: Distribution = Field(description="Time between releases")
    batch: int = Field(1, ge=1, description="Parts per release")


class Line(Strict):
    """A production line (ISA-95 work center): stations in flow order, buffers between them."""

    id: Id
    name: str | None = None
    target_rate: float | None = Field(None, gt=0, description="Target good parts per hour")
    calendar: Calendar | None = Field(None, description="Shifts of this line (default: the site's calendar)")
    source: Id | None = Field(None, description="Default source for the line's signal bindings")
    stations: list[Station] = Field(min_length=1)
    buffers: list[Buffer] = Field(default_factory=list)
    pallets: int | None = Field(
        None, ge=1, description="A closed loop with this many pallets: the last station feeds the first"
    )
    arrivals: Arrivals | None = Field(None, description="Parts released to the first station (default: unlimited)")


class Area(Strict):
    """An area of a site."""

    id: Id
    name: str | None = None
    lines: list[Line] = Field(min_length=1)


class Site(Strict):
    """A plant site."""

    id: Id
    name: str | None = None
    timezone: str = Field("UTC", description="IANA time zone of the site's calendar, e.g. Europe/Paris")
    calendar: Calendar = Field(default_factory=Calendar, description="Shifts, breaks and planned stops")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}' (use an IANA name like Europe/Paris)") from None
        return value

    areas: list[Area] = Field(min_length=1)


class Enterprise(Strict):
    """The company: root of the ISA-95 hierarchy."""

    id: Id
    name: str | None = None
    sites: list[Site] = Field(min_length=1)


class SignalSpc(Strict):
    """How a quality characteristic is charted."""

    subgroup: int = Field(1, ge=1, le=10, description="Consecutive measurements per subgroup (1: I-MR, 2-10: X-bar R)")


class AnalyticsSettings(Strict):
    """Parameters of SPC and anomaly detection."""

    alpha: float = Field(1e-4, gt=0, lt=0.5, description="False-alarm probability per sample of learned detectors")
    persistence: int = Field(3, ge=1, description="Consecutive samples beyond the threshold before a finding")
    warmup: int = Field(600, ge=2, description="Samples learned before a learned detector reports")
    settle_s: float = Field(30.0, ge=0, description="Wait after a station starts producing (cover slow lags)")
    spc_phase1: int = Field(50, ge=10, description="Points that fix a control chart's limits")
    spc_rules: list[str] = Field(default_factory=lambda: ["we1", "we2", "we3", "we4"], description="Rules charted")
    spc_alert_rules: list[str] = Field(
        default_factory=list,
        description="Rules (and 'spread') that raise alerts; by default SPC findings only show on the charts",
    )


class AlertSettings(Strict):
    """How findings become alerts, and where alerts are pushed."""

    clear_after_s: float = Field(30.0, ge=0, description="A condition must be gone this long before its alert clears")
    webhook: str | None = Field(None, pattern=r"^https?://", description="POST every alert change as JSON here")
    webhook_min_severity: Literal["info", "warning", "critical"] = "warning"


class VirtualPlant(Strict):
    """Settings of the virtual plant that can stand in for the sources."""

    seed: int = 0
    serves: list[Id] = Field(default_factory=list, description="Source ids the virtual plant serves")
    tick_s: Seconds = Field(0.1, description="Wall-clock seconds between publications")


class PlantModel(Strict):
    """A whole plant model file."""

    factorytwin: Literal[1] = Field(description="File format version")
    enterprise: Enterprise
    sources: dict[Id, Source] = Field(default_factory=dict)
    virtual_plant: VirtualPlant = VirtualPlant()
    alerts: AlertSettings = AlertSettings()
    analytics: AnalyticsSettings = AnalyticsSettings()

    @field_validator("factorytwin", mode="before")
    @classmethod
    def _whole_version(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"the file format version is the whole number 1, got {value!r}")
        return value

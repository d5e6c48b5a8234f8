"""Sources (where data comes from), signal bindings (where a signal lives there) and edge processing."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .types import Id, Seconds, Strict

__all__ = [
    "Binding",
    "Edge",
    "ModbusBinding",
    "ModbusSource",
    "MqttBinding",
    "MqttSource",
    "MqttTls",
    "OpcUaBinding",
    "OpcUaSecurity",
    "OpcUaSource",
    "Source",
    "SparkplugBinding",
    "SparkplugSource",
    "Spool",
]

# --------------------------------------------------------------------------- bindings


class OpcUaBinding(Strict):
    """Where a signal lives on an OPC UA server."""

    node: str = Field(pattern=r"^ns=\d+;[sigb]=.+$", description="Node id, e.g. ns=2;s=Line1.Filler.Temperature")


ModbusTable = Literal["holding", "input", "coil", "discrete"]
ModbusType = Literal["int16", "uint16", "int32", "uint32", "float32", "float64", "bool", "string"]


class ModbusBinding(Strict):
    """Where a signal lives on a Modbus device, and how its registers decode."""

    table: ModbusTable = Field("holding", description="holding/input registers, or coils/discrete inputs")
    address: int = Field(ge=0, le=65535, description="Zero-based address (register or bit)")
    type: ModbusType = Field("uint16", description="Value type; 32/64-bit types span 2/4 registers")
    bit: int | None = Field(None, ge=0, le=15, description="A single bit inside a register (type bool)")
    length: int | None = Field(None, ge=1, le=123, description="Registers holding a string")
    scale: float = Field(1.0, description="value = raw * scale + offset")
    offset: float = 0.0
    byte_order: Literal["big", "little"] = Field("big", description="Byte order inside each register")
    word_order: Literal["big", "little"] = Field("big", description="Register order of multi-register values")
    unit_id: int | None = Field(None, ge=0, le=255, description="Overrides the source's unit id")

    @model_validator(mode="after")
    def _consistent(self) -> ModbusBinding:
        bit_table = self.table in ("coil", "discrete")
        if bit_table and self.type != "bool":
            raise ValueError(f"a {self.table} holds one bit: use type bool")
        if self.bit is not None and (bit_table or self.type != "bool"):
            raise ValueError("bit selects one bit of a holding or input register and needs type bool")
        if (self.type == "string") != (self.length is not None):
            raise ValueError("type string needs length (registers), and length is only for strings")
        if self.scale == 0:
            raise ValueError("scale must not be 0 (values could not be written back)")
        return self


class MqttBinding(Strict):
    """Where a signal arrives over MQTT, and how its payload decodes.

    The payload is a plain number, or JSON: ``value``/``timestamp``/``quality`` are paths into it
    (``data.temp``, ``samples[0].v``). A JSON array carries many samples: each element is decoded
    with the same paths, keeping the elements whose fields equal ``match``.
    """

    topic: str = Field(min_length=1, description="Exact topic the signal is published on")
    format: Literal["number", "json"] = "json"
    value: str = Field("value", description="Path of the value in a JSON payload")
    timestamp: str | None = Field(None, description="Path of the source time (ISO 8601, or epoch s or ms)")
    quality: str | None = Field(None, description="Path of a quality (good/uncertain/bad or an OPC UA code)")
    match: dict[str, str | int | float] | None = Field(None, description="Array elements to keep")

    @model_validator(mode="after")
    def _no_wildcards(self) -> MqttBinding:
        if "+" in self.topic or "#" in self.topic:
            raise ValueError("a binding names an exact topic; wildcards go in the source's 'subscribe'")
        return self


class SparkplugBinding(Strict):
    """Where a signal lives in a Sparkplug B edge node or device."""

    edge_node: str = Field(min_length=1)
    device: str | None = Field(None, description="Device id; omit for node-level metrics")
    metric: str = Field(min_length=1, description="Metric name as in the BIRTH certificate")


class Binding(Strict):
    """How a signal is read from (and written to) a source: exactly one protocol block."""

    source: Id | None = Field(None, description="Source id; defaults to the line's source")
    opcua: OpcUaBinding | None = None
    modbus: ModbusBinding | None = None
    mqtt: MqttBinding | None = None
    sparkplug: SparkplugBinding | None = None

    @model_validator(mode="after")
    def _one_protocol(self) -> Binding:
        given = [k for k in ("opcua", "modbus", "mqtt", "sparkplug") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a binding has exactly one of opcua, modbus, mqtt, sparkplug (got {given or 'none'})")
        return self

    @property
    def kind(self) -> str:
        """The protocol of the binding (matches its source's kind)."""
        return next(k for k in ("opcua", "modbus", "mqtt", "sparkplug") if getattr(self, k) is not None)


class Edge(Strict):
    """Edge processing of one signal, applied before samples leave its connector."""

    deadband: float | None = Field(None, ge=0, description="Pass a value when it moved more than this")
    deadband_percent: float | None = Field(
        None, gt=0, le=100, description="Deadband as a percent of the signal's normal range span"
    )
    swinging_door: float | None = Field(None, gt=0, description="Swinging-door compression deviation")
    min_interval_s: float | None = Field(None, ge=0, description="Pass at most one value per interval")
    max_interval_s: float | None = Field(None, gt=0, description="Repeat the last value at least this often")
    source_unit: str | None = Field(None, description="Unit the source sends; converted to the signal's unit")

    @model_validator(mode="after")
    def _consistent(self) -> Edge:
        if self.deadband is not None and self.deadband_percent is not None:
            raise ValueError("give deadband or deadband_percent, not both")
        if self.min_interval_s and self.max_interval_s and self.min_interval_s > self.max_interval_s:
            raise ValueError("min_interval_s must not exceed max_interval_s")
        return self


# --------------------------------------------------------------------------- sources


class Spool(Strict):
    """Store-and-forward: a bounded on-disk queue used while the twin cannot keep up or is away."""

    capacity: int = Field(1_000_000, ge=1, description="Samples kept at most; beyond that they are counted lost")
    path: str | None = Field(
        None, description="Directory of the queue (default: $FACTORYTWIN_DATA/spool, ~/.local/share/factorytwin/spool)"
    )


class _SourceBase(Strict):
    """What every source has: timeouts, reconnect backoff, optional store-and-forward."""

    timeout_s: Seconds = 4.0
    reconnect_min_s: Seconds = 0.5
    reconnect_max_s: Seconds = 30.0
    spool: Spool | None = Field(None, description="Store-and-forward for this source")


class OpcUaSecurity(Strict):
    """OPC UA message security and user authentication."""

    policy: Literal["Basic256Sha256"] = "Basic256Sha256"
    mode: Literal["Sign", "SignAndEncrypt"] = "SignAndEncrypt"
    certificate: str | None = Field(None, description="Our certificate (DER/PEM); generated on first use if absent")
    private_key: str | None = Field(None, description="Our private key (PEM); generated with the certificate")
    trust: list[str] = Field(default_factory=list, description="Trusted peer certificates (files or directories)")
    username: str | None = None
    password: str | None = None


class OpcUaSource(_SourceBase):
    """An OPC UA server the twin subscribes to."""

    kind: Literal["opcua"]
    endpoint: str = Field(pattern=r"^opc\.tcp://[^/\s:]+(:\d+)?(/.*)?$")
    publishing_interval_ms: float = Field(100.0, gt=0)
    security: OpcUaSecurity | None = None

    @property
    def address(self) -> str:
        """Where the source is, for people."""
        return self.endpoint


class ModbusSource(_SourceBase):
    """A Modbus TCP device the twin polls."""

    kind: Literal["modbus"]
    host: str = Field(min_length=1)
    port: int = Field(502, ge=1, le=65535)
    unit_id: int = Field(1, ge=0, le=255)
    poll_interval_s: Seconds = 1.0
    max_gap: int = Field(8, ge=0, le=100, description="Unused registers read to merge two requests into one")

    @property
    def address(self) -> str:
        """Where the source is, for people."""
        return f"modbus://{self.host}:{self.port}/{self.unit_id}"


class MqttTls(Strict):
    """TLS to the broker."""

    ca: str | None = Field(None, description="CA certificate to verify the broker (default: system CAs)")
    certificate: str | None = Field(None, description="Client certificate for mutual TLS")
    key: str | None = None
    insecure: bool = Field(False, description="Skip host name checking (testing only)")


class _MqttBase(_SourceBase):
    broker: str | None = Field(
        None, pattern=r"^mqtts?://[^/\s:]+(:\d+)?/?$", description="mqtt://host:port; none: the embedded broker"
    )
    username: str | None = None
    password: str | None = None
    tls: MqttTls | None = None
    client_id: str | None = Field(None, description="Default: factorytwin-<source id>")
    qos: Literal[0, 1, 2] = 1
    clean_session: bool = Field(False, description="False keeps a persistent session (no loss across reconnects)")
    keepalive_s: int = Field(30, ge=5)

    @property
    def address(self) -> str:
        """Where the source is, for people."""
        return self.broker or "the embedded broker"


class MqttSource(_MqttBase):
    """An MQTT broker carrying plain or JSON payloads (e.g. a unified namespace)."""

    kind: Literal["mqtt"]
    subscribe: list[str] = Field(default_factory=list, description="Topic filters; default: the bound topics")


class SparkplugSource(_MqttBase):
    """A broker carrying Sparkplug B for one group."""

    kind: Literal["sparkplug"]
    group_id: str = Field(min_length=1)
    host_id: str | None = Field(None, description="Primary host application id (publishes STATE)")


Source = Annotated[OpcUaSource | ModbusSource | MqttSource | SparkplugSource, Field(discriminator="kind")]

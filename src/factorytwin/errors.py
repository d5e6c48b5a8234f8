"""The exception tree: every error factorytwin raises derives from FactoryTwinError."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConnectorError",
    "FactoryTwinError",
    "HistorianError",
    "ModelError",
    "ModelIssue",
    "WriteRejected",
]


class FactoryTwinError(Exception):
    """Root of all errors raised by factorytwin."""


@dataclass(frozen=True, slots=True)
class ModelIssue:
    """One problem found in a model file: where it is and what is wrong."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ModelError(FactoryTwinError):
    """A model file could not be read or is invalid; carries every issue found."""

    def __init__(self, issues: list[ModelIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class ConnectorError(FactoryTwinError):
    """A source could not be reached or answered with an error."""


class HistorianError(FactoryTwinError):
    """The historian could not store or read samples."""


class WriteRejected(FactoryTwinError):
    """A setpoint write was refused; ``reason`` is unknown, read_only, type or limits."""

    def __init__(self, message: str, reason: str = "limits") -> None:
        self.reason = reason
        super().__init__(message)

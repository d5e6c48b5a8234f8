"""Access control and accountability: API tokens kept as hashes, roles, and the audit log of every write."""

from .audit import AuditEntry, AuditLog
from .store import Security
from .tokens import Principal, Role, TokenInfo, TokenStore

__all__ = ["AuditEntry", "AuditLog", "Principal", "Role", "Security", "TokenInfo", "TokenStore"]

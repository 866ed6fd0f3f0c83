"""Who is calling: the token's user (or client) and roles."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from vpp.api.auth import Principal
from vpp.graphql.types.enums import Role


@strawberry.type
class Caller:
    subject: str
    name: str
    roles: list[Role]
    expires_at: datetime

    @classmethod
    def from_principal(cls, p: Principal) -> Caller:
        return cls(
            subject=p.subject,
            name=p.name,
            roles=sorted(p.roles, key=list(Role).index),
            expires_at=datetime.fromtimestamp(p.expires_at, tz=UTC),
        )

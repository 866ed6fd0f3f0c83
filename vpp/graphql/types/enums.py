"""The domain's enums, exposed to GraphQL under their own names."""

from __future__ import annotations

import strawberry

from vpp.api.auth import Role
from vpp.api.live.alerts import AlertKind
from vpp.dispatch.models import DispatchStatus
from vpp.dispatch.models import NodeStatus as CommandStatus
from vpp.models import Action, NodeKind, NodeStatus
from vpp.store.aggregate import FreqStatus
from vpp.store.telemetry_queries import Bucket

strawberry.enum(NodeKind, description="What a node is")
strawberry.enum(NodeStatus, description="A node's last status message")
strawberry.enum(FreqStatus, description="Grid frequency band: normal ±0.1 Hz, warning ±0.2 Hz")
strawberry.enum(Bucket, description="Downsampling bucket width")
strawberry.enum(AlertKind, description="What an alert is about")
strawberry.enum(Role, description="A realm role of the caller")
strawberry.enum(Action, description="What a dispatch asks nodes to do")
strawberry.enum(DispatchStatus, description="Where a dispatch stands")
strawberry.enum(CommandStatus, name="CommandStatus", description="Where one node's command stands")

__all__ = [
    "Action",
    "AlertKind",
    "Bucket",
    "CommandStatus",
    "DispatchStatus",
    "FreqStatus",
    "NodeKind",
    "NodeStatus",
    "Role",
]

"""`DispatchSettings`: the dispatch section of the platform's settings (`VPP_DISPATCH__*`).

It lives here, free of any other import, so `vpp.config` can hold it as
`dispatch: DispatchSettings = DispatchSettings()`; `dispatch_settings()` reads it from a
`Settings` whether or not that line is there yet.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

PositiveSeconds = Annotated[float, Field(gt=0, le=86_400)]


class DispatchSettings(BaseModel):
    # A node must take its command within this window unless the request names a deadline.
    default_ack_window_s: PositiveSeconds = 60.0
    # The first resend to a node that has not acked comes this long after the send, then
    # each wait doubles up to `resend_max_s`, until the deadline.
    resend_initial_s: PositiveSeconds = 1.0
    resend_max_s: PositiveSeconds = 15.0
    # A node that accepted is asked again (same command id: it answers from its memory)
    # this long after its command should have ended without a completion report...
    completion_slack_s: PositiveSeconds = 2.0
    # ...and counts as expired this long after that end.
    completion_grace_s: PositiveSeconds = 60.0
    # Nodes per child workflow, and a child's history length that makes it continue as new.
    shard_size: Annotated[int, Field(ge=1, le=5_000)] = 500
    max_shard_events: Annotated[int, Field(ge=50, le=50_000)] = 10_000
    # Measured response: wait this long after a completion for the last readings to land.
    measure_settle_s: Annotated[float, Field(ge=0, le=600)] = 1.0
    # A shard writes the log at most this often, so changes close in time share a write
    # (a short command's answer, completion and measurement land in one); live progress
    # on Redis does not wait for it. Each document write costs SecantusDB ~0.7 ms of CPU.
    log_interval_s: Annotated[float, Field(ge=0, le=60)] = 2.0
    # The ack relay: MQTT 5 shared subscription group, and how it batches acks into one
    # signal per dispatch shard (a batch goes when full or `ack_linger_s` old).
    ack_share_group: str = "acks"
    ack_batch_size: Annotated[int, Field(ge=1, le=5_000)] = 500
    ack_linger_s: Annotated[float, Field(ge=0, le=5)] = 0.02
    # The relay's broker session outlives a restart by this much (acks wait for it).
    ack_session_expiry_s: Annotated[int, Field(ge=0)] = 600
    # Commands the worker's publisher keeps in flight (below the broker's receive maximum).
    publish_window: Annotated[int, Field(ge=1, le=65_000)] = 500


def dispatch_settings(settings: Any) -> DispatchSettings:
    """The `dispatch` section of a `Settings`, or the defaults while it has none."""
    section = getattr(settings, "dispatch", None)
    return section if isinstance(section, DispatchSettings) else DispatchSettings()

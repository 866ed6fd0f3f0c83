"""The names of a dispatch: its id, its workflows' ids, its commands' ids.

A command id encodes where its acks must go: `<dispatch_id>:<shard>:<node_id>`. The ack
relay reads it and signals the shard's workflow, `dispatch-<dispatch_id>-s<shard>`,
without any lookup. Resends to a node reuse its command id: the node answers a repeated
id from its memory and never applies it twice (a fresh id per attempt would let a node
whose ack was lost apply the command again). `attempts` in the log counts the sends.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

_DISPATCH_ID = re.compile(r"^[a-z0-9]{1,48}$")
_NODE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def new_dispatch_id(issuer: str, request_id: str | None) -> str:
    """A dispatch's id: derived from the issuer and the request's idempotency key, so a
    retried request lands on the same workflow; random when the request has no key."""
    if request_id is None:
        return uuid.uuid4().hex[:24]
    digest = hashlib.blake2b(f"{issuer}\n{request_id}".encode(), digest_size=12)
    return digest.hexdigest()


def dispatch_workflow_id(dispatch_id: str) -> str:
    return f"dispatch-{dispatch_id}"


def shard_workflow_id(dispatch_id: str, shard: int) -> str:
    return f"dispatch-{dispatch_id}-s{shard}"


def command_id(dispatch_id: str, shard: int, node_id: str) -> str:
    return f"{dispatch_id}:{shard}:{node_id}"


@dataclass(frozen=True)
class CommandRef:
    dispatch_id: str
    shard: int
    node_id: str

    @property
    def shard_workflow_id(self) -> str:
        return shard_workflow_id(self.dispatch_id, self.shard)


def parse_command_id(value: str) -> CommandRef | None:
    """The parts of a command id this platform issued; None for anything else."""
    parts = value.split(":")
    if len(parts) != 3:
        return None
    dispatch_id, shard, node_id = parts
    if not (_DISPATCH_ID.match(dispatch_id) and shard.isdigit() and _NODE_ID.match(node_id)):
        return None
    return CommandRef(dispatch_id, int(shard), node_id)

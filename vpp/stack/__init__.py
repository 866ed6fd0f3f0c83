"""The local platform stack: Temporal, a MongoDB-wire store, Redis, Mosquitto and Keycloak
run as plain processes under one data directory (no Docker needed)."""

from vpp.stack.manager import ServerReport, Stack, State
from vpp.stack.process import StackError

__all__ = ["ServerReport", "Stack", "StackError", "State"]

"""Temporal activities: all the I/O workflows need (MQTT, MongoDB, Redis, ML calls)."""

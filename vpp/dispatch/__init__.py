"""Dispatch: commands to nodes as durable Temporal workflows, acked over MQTT, logged in MongoDB."""

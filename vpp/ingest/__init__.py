"""The telemetry ingester: MQTT shared subscription in, MongoDB batches and Redis live state
out, every message acknowledged only once it is stored or dead-lettered.

`consumer.Ingester` wires the pieces: `validation` (topic, size, schema, ids),
`known_nodes` (the registry cache), `batcher` (size/time batches, retries,
back-pressure), `telemetry_writer` and `dead_letters` (the raw MongoDB writes),
`mqtt_session` (gmqtt with batched PUBACKs), `metrics`; `command` is the process.
"""

"""Simulated DER nodes: edge data centres and homes, each its own MQTT 5 session.

The modules, from the inside out: `clock` (simulated time), `profiles` (CityLearn load and
PV), `physics` (battery, loads), `frequency` (the grid's frequency), `commands` (command
decoding, checks and the memory of ids seen), `node` (one node: physics + commands ->
telemetry and acks), `buffer` (store-and-forward), `session` (MQTT) and `http_link` (HTTP
fallback), `fleet` (many nodes in one process), `status_api` and `command` (the process).
"""

"""The platform's message contracts: MQTT topics, broker credentials, Redis channels."""

"""The telemetry store: Beanie documents and collections (`documents`, `database`), the node
registry (`nodes`, `seed`), telemetry reads for the API (`telemetry_queries`), the latest
state in Redis (`live_state`) and the plant's aggregate over it (`aggregate`), retention
where the server does not enforce it (`retention`).
"""

"""Live data for GraphQL subscriptions: one Redis subscription per process, fanned out.

`LiveHub` holds the three feeds a process shares among all its WebSocket clients:
the `Broadcaster` (the ingester's live telemetry channel), the `AggregateFeeds` (one
poller per aggregate scope in use) and the `AlertMonitor` (derived alerts).
"""

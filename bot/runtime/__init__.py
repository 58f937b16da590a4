"""The runtime: what runs around the handlers, not what they decide — the inbox of received
updates (durable intake) and its worker, the outbox (the one writer of outbox rows) and the
delivery worker, per-key locks, exclusive roles across processes, the webhook HTTP server."""

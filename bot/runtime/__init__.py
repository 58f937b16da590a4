"""The runtime: the outbox (the one writer of outbox rows), the delivery worker, per-key
locks. What runs around the handlers, not what they decide."""

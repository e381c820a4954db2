"""The issuance outbox: awards become one outbox row per target (in the award's transaction), and a
leased worker sends each row to its target exactly once (idempotency key + reconcile-before-retry)."""

"""HTTP conventions shared by every domain: errors, pagination, idempotency, auth."""

"""Services: validation, permission checks, transactions and publishing. Handlers call these."""

"""Provider adapters: one per wire API, shared by the vendors that speak it."""

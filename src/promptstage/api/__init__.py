"""The HTTP API (v1): routers, request schemas, auth, and the one error -> HTTP mapping."""

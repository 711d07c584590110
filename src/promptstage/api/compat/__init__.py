"""Foreign wire protocols, each a router over ``service/`` (the Langfuse public API)."""

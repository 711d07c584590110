"""Quality per version: calls, errors, latency, tokens, cost and scores over a period."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

"""Admin: people, service accounts, API keys, protected labels, four-eyes, webhooks."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

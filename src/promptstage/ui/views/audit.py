"""The audit trail, filtered and paginated, and the chain verification."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

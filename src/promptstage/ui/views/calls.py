"""The call log and one call's replay."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

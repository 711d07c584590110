"""Promote (move a label, or ask for approval) and one-click rollback."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

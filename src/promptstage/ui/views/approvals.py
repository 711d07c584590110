"""The approvals inbox: pending change requests, approve or reject."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

"""The editor: a new version from a chosen one, with live preview and the diff before saving."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

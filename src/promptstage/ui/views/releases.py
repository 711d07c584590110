"""Releases: start a canary, ramp or A/B test; the live release panel and its actions."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

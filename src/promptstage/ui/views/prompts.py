"""A prompt: its versions, dependency snapshots, label history, and the diff of two versions."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

"""What is live where: a project's prompts by labels."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

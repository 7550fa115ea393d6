"""Placeholder: filled in by the module's owner."""

from __future__ import annotations

from fastapi import APIRouter


def router(state) -> APIRouter:
    return APIRouter()

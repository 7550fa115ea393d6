"""Structured API errors (SPEC §8.1): {"detail": {"code", "message", ...}}."""

from __future__ import annotations

from fastapi import HTTPException


def api_error(status: int, code: str, message: str, **extra) -> HTTPException:
    """Raise the result: `raise api_error(404, "PROXY_NOT_FOUND", "no proxy ...")`."""
    return HTTPException(status, detail={"code": code, "message": message, **extra})

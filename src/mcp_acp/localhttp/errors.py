"""Structured API errors (docs/manager.md#the-local-api-and-its-protection): {"detail": {"code", "message", ...}}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


def api_error(status: int, code: str, message: str, **extra: object) -> HTTPException:
    """Raise the result: `raise api_error(404, "PROXY_NOT_FOUND", "no proxy ...")`."""
    return HTTPException(status, detail={"code": code, "message": message, **extra})


def structured_errors(app: FastAPI, where: str) -> None:
    """Every error answers {"detail": {"code", "message"}} (docs/manager.md#the-local-api-and-its-protection), FastAPI's own ones included."""

    @app.exception_handler(StarletteHTTPException)  # the router's own 404/405 too
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if not isinstance(detail, dict):
            code = "NOT_FOUND" if exc.status_code in (404, 405) else "INTERNAL_ERROR"
            detail = {"code": code, "message": str(detail)}
        return JSONResponse({"detail": detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()]
        return JSONResponse(
            {"detail": {"code": "VALIDATION_ERROR", "message": "; ".join(problems), "validation_errors": problems}}, 422
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s: %s %s failed", where, request.method, request.url.path)
        return JSONResponse({"detail": {"code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"}}, 500)

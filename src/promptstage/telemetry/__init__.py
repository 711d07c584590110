"""OpenTelemetry for the server, wired at the edge like ``settings.py``.

:func:`start` decides from the settings and the standard ``OTEL_*`` variables whether the
server exports traces; when it does, it builds a tracer provider with an OTLP/HTTP exporter
(``promptstage.telemetry.otel``, the only server module that imports OpenTelemetry) and
returns what ``create_app`` plugs in: the service's :class:`~promptstage.service.tracing.Tracer`
(write transactions, promotions, label moves, controller looks), the request-span middleware
and the statement spans of the store. Off, nothing of OpenTelemetry is imported.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from promptstage.errors import ConfigurationError
from promptstage.settings import Settings, env_name

if TYPE_CHECKING:
    from .otel import Telemetry

__all__ = ["TRACES_ENDPOINTS", "start", "wanted"]

log = logging.getLogger("promptstage")

TRACES_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
"""The standard variables that turn the server's tracing on without a promptstage setting."""


def wanted(settings: Settings, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the server exports traces: an endpoint is set and OpenTelemetry is not
    disabled by ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    if settings.otel_exporter_otlp_endpoint:
        return True
    return any(env.get(name, "").strip() for name in TRACES_ENDPOINTS)


def start(
    settings: Settings, *, version: str, environ: Mapping[str, str] | None = None
) -> Telemetry | None:
    """The server's telemetry, or ``None`` when tracing is off (see :func:`wanted`); its spans
    carry ``service.version`` = ``version``.

    Raises:
        ConfigurationError: tracing is asked for but the ``otel-server`` extra is missing.
    """
    if not wanted(settings, environ):
        return None
    try:
        from .otel import Telemetry
    except ImportError as exc:
        name = (
            env_name("otel_exporter_otlp_endpoint")
            if settings.otel_exporter_otlp_endpoint
            else "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        raise ConfigurationError(
            f"{name} is set, so the server exports traces, but OpenTelemetry is not installed "
            f"({exc}): pip install 'promptstage[otel-server]', or unset {name}",
            field=name,
        ) from None
    env = os.environ if environ is None else environ
    telemetry = Telemetry.start(settings, env, version=version)
    where = settings.otel_exporter_otlp_endpoint or next(
        env[name] for name in TRACES_ENDPOINTS if env.get(name, "").strip()
    )
    log.info("OpenTelemetry: exporting traces over OTLP/HTTP to %s", where)
    return telemetry

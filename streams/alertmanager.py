"""The pager's Alertmanager client: `POST /api/v2/alerts` to every instance of an Alertmanager cluster,
with a timeout, errors wrapped.

Alertmanager instances in a high-availability cluster gossip silences and what they notified, not
alerts: every client must send every alert to each instance (as Prometheus does). A push counts as
delivered when at least one instance accepted it; an instance that was down gets the alert with the
next resend. Each instance's outcome is counted (`riskalert_alertmanager_posts_total`), so a lost
instance shows (`RiskAlertAlertmanagerUnreachable`) while the others still page.

Used only by the pager's timer, never inside an agent: a slow or dead Alertmanager must not hold up
the stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from streams import metrics
from streams.errors import AlertmanagerError

log = logging.getLogger(__name__)

ALERTS_PATH = "/api/v2/alerts"
BODY_IN_ERROR_CHARS = 300


def instance_label(url: str) -> str:
    """An instance's URL for a metric label: scheme, host and port only (never credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def parse_urls(value: str) -> list[str]:
    """The Alertmanager URLs of `RISKALERT_ALERTMANAGER_URL`: one, or several comma-separated."""
    return [url.strip().rstrip("/") for url in value.split(",") if url.strip()]


class AlertmanagerClient:
    """Posts alerts to every Alertmanager instance; the HTTP session is opened on first use (inside
    the loop)."""

    def __init__(self, urls: str | Sequence[str], timeout_seconds: float) -> None:
        self.urls = parse_urls(urls) if isinstance(urls, str) else [url.rstrip("/") for url in urls]
        if not self.urls:
            raise ValueError("no Alertmanager URL")
        self.url = ", ".join(self.urls)  # for messages
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None
        for url in self.urls:
            for outcome in ("accepted", "refused", "failed"):
                metrics.ALERTMANAGER_POSTS.labels(instance_label(url), outcome)  # exported at 0

    async def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Send alerts (v2 API JSON) to every instance; returns once at least one accepted them.

        Raises:
            AlertmanagerError: no instance accepted them (`rejected` when every instance answered 400).
        """
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        results = await asyncio.gather(*(self._post(url, alerts) for url in self.urls))
        errors = [error for error in results if error is not None]
        if len(errors) == len(self.urls):
            if len(errors) == 1:
                raise errors[0]
            message = "; ".join(str(error) for error in errors)
            raise AlertmanagerError(message, rejected=all(error.rejected for error in errors))
        for error in errors:
            log.warning("pager: delivered through another Alertmanager instance, but %s", error)

    async def _post(self, url: str, alerts: list[dict[str, Any]]) -> AlertmanagerError | None:
        """POST to one instance; the error, or None once it accepted the alerts."""
        error = await self._attempt(url, alerts)
        outcome = "accepted" if error is None else "refused" if error.rejected else "failed"
        metrics.ALERTMANAGER_POSTS.labels(instance_label(url), outcome).inc()
        return error

    async def _attempt(self, url: str, alerts: list[dict[str, Any]]) -> AlertmanagerError | None:
        assert self._session is not None
        try:
            async with self._session.post(url + ALERTS_PATH, json=alerts) as response:
                if response.status == 200:
                    return None
                body = (await response.text())[:BODY_IN_ERROR_CHARS]
                return AlertmanagerError(
                    f"Alertmanager at {instance_label(url)} answered {response.status} to {len(alerts)}"
                    f" alerts: {body}",
                    rejected=response.status == 400,
                )
        except (TimeoutError, aiohttp.ClientError) as exc:
            reason = str(exc) or type(exc).__name__
            return AlertmanagerError(f"cannot reach Alertmanager at {instance_label(url)}: {reason}")

    async def close(self) -> None:
        """Close the HTTP session (at worker shutdown)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

"""The pager's Alertmanager client: `POST /api/v2/alerts`, with a timeout, errors wrapped.

Used only by the pager's timer, never inside an agent: a slow or dead Alertmanager must not hold up
the stream.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from streams.errors import AlertmanagerError

ALERTS_PATH = "/api/v2/alerts"
BODY_IN_ERROR_CHARS = 300


class AlertmanagerClient:
    """Posts alerts to one Alertmanager; the HTTP session is opened on first use (inside the loop)."""

    def __init__(self, url: str, timeout_seconds: float) -> None:
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    async def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Send alerts (v2 API JSON); returns once Alertmanager accepted them.

        Raises:
            AlertmanagerError: unreachable, timed out, or answered other than 200 (`rejected` on 400).
        """
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(self.url + ALERTS_PATH, json=alerts) as response:
                if response.status == 200:
                    return
                body = (await response.text())[:BODY_IN_ERROR_CHARS]
                raise AlertmanagerError(
                    f"Alertmanager at {self.url} answered {response.status} to {len(alerts)} alerts: {body}",
                    rejected=response.status == 400,
                )
        except (TimeoutError, aiohttp.ClientError) as exc:
            reason = str(exc) or type(exc).__name__
            raise AlertmanagerError(f"cannot reach Alertmanager at {self.url}: {reason}") from exc

    async def close(self) -> None:
        """Close the HTTP session (at worker shutdown)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

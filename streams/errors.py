"""One error tree. Every error riskalert raises derives from `RiskAlertError`.

Third-party errors are wrapped with `raise ... from exc`. Messages name the stage and the record's
position (topic, partition, offset, or input line) so an operator can find it.
"""

from __future__ import annotations


class RiskAlertError(Exception):
    """The root of every riskalert error."""


class SettingsError(RiskAlertError):
    """The configuration is invalid; the message names each `RISKALERT_*` variable at fault."""


class StackError(RiskAlertError):
    """A local stack service failed to install, start, stop or answer its health check."""


class TopicError(RiskAlertError):
    """A topic could not be created or described."""

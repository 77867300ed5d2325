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


class ProduceError(RiskAlertError):
    """A record could not be delivered to Kafka; the message names the topic."""


class CodecError(RiskAlertError):
    """A record could not be Avro-encoded or decoded, or the schemas behind the codec are unusable."""


class SchemaError(CodecError):
    """A schema file is invalid, or two schemas map to one schema id; the message names the file(s)."""


class RegistryError(CodecError):
    """The schema registry refused a schema or could not be reached; the message names the subject or id."""


class EncodeError(CodecError):
    """A record does not fit its schema; the message names the record type and, when known, the field.

    Attributes:
        record_type: e.g. `RawAlert`.
        field: the first field at fault, or None when the codec cannot tell.
    """

    def __init__(self, message: str, *, record_type: str, field: str | None = None) -> None:
        super().__init__(message)
        self.record_type = record_type
        self.field = field


class DecodeError(CodecError):
    """Bytes could not be decoded; the message names topic, partition and offset, and the reason.

    Attributes:
        reason: a short bounded code, e.g. `bad_magic_byte`, `unknown_schema_id`, `truncated_body`; usable
            as a dead letter's `reason` and as a metric label.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class IngestError(RiskAlertError):
    """The ingest gateway was misused (e.g. an unknown `--format`); bad input records never raise this."""


class InvalidIdentifierError(IngestError, ValueError):
    """An ID number, phone number or account number is malformed; the message says what is wrong.

    Validators turn it into a field error; it never escapes ingest.
    """


class AlertmanagerError(RiskAlertError):
    """Alertmanager could not be reached or did not accept the pager's alerts; the message says which.

    Attributes:
        rejected: Alertmanager answered 400: it refused the alerts as invalid, so sending the same
            alerts again cannot succeed.
    """

    def __init__(self, message: str, *, rejected: bool = False) -> None:
        super().__init__(message)
        self.rejected = rejected

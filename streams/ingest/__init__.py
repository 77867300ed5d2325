"""The ingest gateway: read, validate, pseudonymise and mask upstream records before they reach Kafka.

The front half is pure (no Kafka): `readers` turns bytes into records, `validate` turns records into
contract dicts or field errors, `identity` checks, hashes and masks personal identifiers, and `redact`
makes dead-letter payloads safe to keep.
"""

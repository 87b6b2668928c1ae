"""One error hierarchy for every stage (pySigma style).

Messages say what was wrong, expected versus found, and where."""

from __future__ import annotations


class DcwatchError(Exception):
    """Base of every error dcwatch raises on purpose."""


class InputError(DcwatchError):
    """Bad input: counted and skipped at the record boundary, never a traceback."""

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.message} ({self.where})" if self.where else self.message


class Truncated(InputError):
    """More bytes may come (stream reassembly retries); at end of input it is final."""


class Malformed(InputError):
    """A protocol or format violation that no amount of further data fixes."""


class ConfigError(DcwatchError):
    """A configuration value is missing or wrong."""


class StoreError(DcwatchError):
    """The store cannot be opened, migrated or written."""


class RegistryError(DcwatchError):
    """A detector could not be registered (duplicate slug, bad class)."""

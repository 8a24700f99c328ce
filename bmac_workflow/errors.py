"""One exception family; each class carries the exit code the README gives it."""

from __future__ import annotations


class BmacError(Exception):
    """Base of every error a user can cause; `exit_code` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Usage(BmacError):
    """A command line bmac cannot use (an option's value of the wrong form), as click's own."""

    exit_code = 2


class NotFound(BmacError):
    """A case or operator that does not exist."""

    exit_code = 3


class NotAllowed(BmacError):
    """A step that the case's current state does not allow."""

    exit_code = 4


class InvalidData(BmacError):
    """A value out of range, malformed, or inconsistent with the record."""

    exit_code = 5


class NotPermitted(BmacError):
    """A role, PIN, lock or signature rule that refuses the operator."""

    exit_code = 6


class Conflict(BmacError):
    """The case changed under the operator: someone else logged first."""

    exit_code = 7


class RecordAltered(BmacError):
    """The audit found the record altered."""

    exit_code = 8


class SchemaOutOfDate(BmacError):
    """The database is not at the revision this version of bmac needs."""

    exit_code = 1

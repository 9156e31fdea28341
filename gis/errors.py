"""Errors that reach a user: each names what is wrong, what was given and the fix.

Every error the library raises on purpose subclasses :class:`GisError`, so the
CLI prints one line (exit 2) and the app shows it with ``st.error``.
"""

from __future__ import annotations


class GisError(Exception):
    """An error a user can act on.

    Parameters
    ----------
    message
        What is wrong and what was given.
    row
        1-based line or feature number in the input, when there is one.
    field
        The column or property at fault, when there is one.
    fix
        What the user should do about it.
    """

    exit_code = 2

    def __init__(self, message: str, *, row: int | None = None,
                 field: str | None = None, fix: str | None = None) -> None:
        self.message = message
        self.row = row
        self.field = field
        self.fix = fix
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"line {self.row}")
        if self.field:
            where.append(f"field '{self.field}'")
        text = self.message
        if where and not any(w in text for w in where):
            text = f"{', '.join(where)}: {text}"
        if self.fix:
            text = f"{text}; {self.fix}"
        return text


class ConfigError(GisError):
    """The environment or settings are unusable (DATABASE_URL, GIS_HOME, binaries)."""


class DatabaseUnavailable(GisError):
    """The database server cannot be reached or refuses us."""


class DatabaseBusy(DatabaseUnavailable):
    """Every pooled connection stayed busy for the whole wait."""


class SchemaOutOfDate(ConfigError):
    """The database schema is older (or newer) than this code."""


class InputError(GisError):
    """A file, row or argument cannot be used as given."""


class ValidationError(InputError):
    """A layer failed validation; ``problems`` holds every finding."""

    def __init__(self, message: str, *, problems=None, **kwargs) -> None:
        self.problems = problems
        super().__init__(message, **kwargs)


class TransitionError(InputError):
    """A lifecycle transition that the rules do not allow."""


class SignInError(GisError):
    """Wrong account or password, a disabled account, or one locked after repeated failures.

    The message is the same for an unknown account and a wrong password, so
    nobody can find out which accounts exist.
    """


class PermissionDenied(GisError):
    """The signed-in user's role or scope does not allow the action."""

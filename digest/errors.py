"""Errors the CLI turns into one friendly message, a hint and an exit status."""

from __future__ import annotations


class DigestError(Exception):
    """An error a user can act on: a message, a hint and the exit status it maps to."""

    exit_code = 4

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(DigestError):
    """Bad configuration or input file: the message names the file, line and key path."""

    exit_code = 1


class ConfigProblems(ConfigError):
    """Several problems in one configuration file, all reported at once (`problems`)."""

    def __init__(self, message: str, hint: str | None, problems: tuple[ConfigError, ...]) -> None:
        super().__init__(message, hint)
        self.problems = problems


class InputError(DigestError):
    """A bad input file or argument given on the command line."""

    exit_code = 1


class LockedError(DigestError):
    """Another run holds the lock."""

    exit_code = 3


class StageError(DigestError):
    """A stage could not do its job at all (nothing could be built, nothing sent)."""

    exit_code = 4

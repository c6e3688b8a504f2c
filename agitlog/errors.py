"""The one exception family agitlog raises; the CLI boundary turns it into a message and an exit code."""
from __future__ import annotations


class AgitlogError(Exception):
    """An error the user can act on: a message, an optional hint, and the exit code to leave with."""

    code = "error"

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code


class NotARepositoryError(AgitlogError):
    code = "not_a_repository"


class GitError(AgitlogError):
    code = "git_failed"


class GitNotInstalledError(GitError):
    """git could not be started at all (not on PATH): not a failure of the repository."""
    code = "git_not_installed"


class SessionNotFoundError(AgitlogError):
    code = "session_not_found"


class NoSessionsError(SessionNotFoundError):
    """The repository has no sessions at all; ``repo`` (an agitlog.git.Repo) lets the CLI look for
    some on its remote, as a fresh clone has them there."""

    def __init__(self, message: str, hint: str | None = None, *, repo: object = None) -> None:
        super().__init__(message, hint)
        self.repo = repo


class ConfigError(AgitlogError):
    code = "bad_config"


class CorruptRecordError(AgitlogError):
    code = "corrupt_record"


class UsageError(AgitlogError):
    code = "usage"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint, exit_code=2)

"""Repository configuration (git config)."""
from __future__ import annotations

from agitlog.git.process import git
from agitlog.git.repo import Repo


def config_get_all(repo: Repo, key: str) -> list[str]:
    out = git(repo.root, "config", "--local", "--get-all", key, check=False)
    return out.decode("utf-8", "surrogateescape").splitlines()


def config_get(repo: Repo, key: str) -> str | None:
    """A key's value as git resolves it from every scope, or None."""
    out = git(repo.root, "config", "--get", key, check=False).decode("utf-8", "surrogateescape").strip()
    return out or None


def config_scope(repo: Repo, key: str) -> str | None:
    """Which scope ("local", "global", "system", ...) sets ``key``, or None when unset."""
    out = git(repo.root, "config", "--show-scope", "--get", key, check=False).decode().strip()
    return out.split("\t", 1)[0] if out else None


def config_add(repo: Repo, key: str, value: str) -> None:
    git(repo.root, "config", "--local", "--add", key, value)


def config_set(repo: Repo, key: str, value: str) -> None:
    git(repo.root, "config", "--local", key, value)


def config_unset_value(repo: Repo, key: str, value: str) -> None:
    """Remove every ``key`` whose value is exactly ``value``."""
    import re

    git(repo.root, "config", "--local", "--unset-all", key, "^" + re.escape(value) + "$", check=False)

"""Project configuration: ``.agitlog.toml`` at the repository root, or ``[tool.agitlog]`` in pyproject.toml.

```toml
[snapshot]
exclude = ["node_modules/", "*.log"]   # never snapshotted (gitignore-style globs)
max_file_size = "10MB"                 # larger files are left out, and the skip is recorded
secret_files = [".env", "*.pem"]       # replaces the default list of untracked credential files

[redact]
patterns = ["acct-[0-9]{8}"]           # extra regexes replaced by [REDACTED:custom]

[share]
remote = "origin"                      # default remote for push/fetch

[rerun]
ignore = ["$.metadata", "$.input[*].id"]  # request fields a rerun does not match on (JSON paths)

[prices."gpt-4o"]                      # per million tokens, in your currency
input = 2.5
output = 10.0
```
"""
from __future__ import annotations

import re
from pathlib import Path

from agitlog.constants import DEFAULT_MAX_FILE_SIZE, DEFAULT_SECRET_FILES
from agitlog.datatypes import datatype, field
from agitlog.errors import ConfigError

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any

CONFIG_FILE = ".agitlog.toml"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
          "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3}


@datatype(frozen=True)
class Config:
    exclude: tuple[str, ...] = ()
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    secret_files: tuple[str, ...] = DEFAULT_SECRET_FILES
    redact_patterns: tuple[str, ...] = ()
    remote: str | None = None
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    rerun_ignore: tuple[str, ...] = ()   # JSON paths left out when a rerun matches requests
    source: Path | None = None


def load_config(root: Path) -> Config:
    """The configuration for the repository at ``root``; defaults when there is none."""
    path = root / CONFIG_FILE
    if path.is_file():
        return _from_table(_read_toml(path), path)
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("agitlog")
        if isinstance(table, dict):
            return _from_table(table, pyproject)
    return Config()


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only repositories with a config file pay for it

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path.name}: {exc}", hint=f"fix the TOML syntax in {path}") from exc


def _from_table(table: dict[str, Any], source: Path) -> Config:
    snapshot = _section(table, "snapshot", source)
    redact = _section(table, "redact", source)
    share = _section(table, "share", source)
    prices = _section(table, "prices", source)
    rerun = _section(table, "rerun", source)
    return Config(
        exclude=_strings(snapshot.get("exclude", ()), "snapshot.exclude", source),
        max_file_size=parse_size(snapshot.get("max_file_size", DEFAULT_MAX_FILE_SIZE), source),
        secret_files=_strings(snapshot.get("secret_files", DEFAULT_SECRET_FILES), "snapshot.secret_files", source),
        redact_patterns=_strings(redact.get("patterns", ()), "redact.patterns", source),
        remote=share.get("remote"),
        prices={str(k): dict(v) for k, v in prices.items() if isinstance(v, dict)},
        rerun_ignore=_json_paths(rerun.get("ignore", ()), "rerun.ignore", source),
        source=source,
    )


def _section(table: dict[str, Any], name: str, source: Path) -> dict[str, Any]:
    value = table.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] in {source.name} must be a table")
    return value


def _strings(value: Any, key: str, source: Path) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{key} in {source.name} must be a list of strings")
    return tuple(value)


def _json_paths(value: Any, key: str, source: Path) -> tuple[str, ...]:
    paths = _strings(value, key, source)
    for path in paths:
        if not path.startswith("$"):
            raise ConfigError(f"{key} in {source.name}: {path!r} is not a JSON path",
                              hint='write paths such as "$.metadata" or "$.input[*].id"')
    return paths


def parse_size(value: Any, source: Path | None = None) -> int:
    """Bytes from an int or a string such as "10MB", "512KiB"."""
    if isinstance(value, int) and value >= 0:
        return value
    match = _SIZE.match(str(value))
    unit = (match.group(2) or "").lower() if match else None
    if not match or unit not in _UNITS:
        where = f" in {source.name}" if source else ""
        raise ConfigError(f"invalid size {value!r}{where}", hint='use bytes or a size such as "10MB"')
    return int(float(match.group(1)) * _UNITS[unit])

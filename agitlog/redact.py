"""Redaction of recorded events before they are written: well-known credential shapes and the
project's own ``[redact] patterns`` are replaced by ``[REDACTED:<kind>]``.

Stand-in for the module the record core imports (it was not part of the committed core); kept
small on purpose so the owner of capture can replace it wholesale."""
from __future__ import annotations

import re
from typing import Any, Iterable

_BUILTIN = (
    ("openai", r"sk-(?:proj-)?[A-Za-z0-9_-]{20,}"),
    ("anthropic", r"sk-ant-[A-Za-z0-9_-]{20,}"),
    ("aws", r"AKIA[0-9A-Z]{16}"),
    ("github", r"gh[pousr]_[A-Za-z0-9]{30,}"),
)


class Redactor:
    """Replaces secrets in every string inside an event (keys are left alone)."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self._rules = [(kind, re.compile(rx)) for kind, rx in _BUILTIN]
        self._rules += [("custom", re.compile(rx)) for rx in patterns]

    def redact_text(self, text: str) -> str:
        for kind, rule in self._rules:
            text = rule.sub(f"[REDACTED:{kind}]", text)
        return text

    def redact_value(self, value: Any) -> Any:
        """A copy of ``value`` (JSON-like) with every string redacted."""
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, dict):
            return {key: self.redact_value(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact_value(item) for item in value]
        return value

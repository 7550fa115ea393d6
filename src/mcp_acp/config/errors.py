"""The config package's error type, in a module of its own so that `paths` (which everything
imports) can raise it without importing the loaders in `store`."""

from __future__ import annotations


class ConfigError(Exception):
    """A config file is missing or invalid. The message names the file, the field and the fix;
    `problems` lists each problem when there are several (a policy with many bad rules)."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]

"""Airflow versions the tool knows how to provision, and the pins each needs.

Airflow's constraint files live on GitHub, which is out of reach where this tool is often run, so the few
pins that a plain resolve gets wrong are kept here, per release line, each with the reason it exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

# The versions `mwaa-verify demo` migrates between: the last 2.10 release and the newest MWAA 3.x image.
DEMO_SOURCE_VERSION = "2.10.5"
DEMO_TARGET_VERSION = "3.3.1"

# Measured in ../shared/research/local_airflow_recipes.md: 2.10.5 resolves universal-pathlib 0.3.x, which
# breaks ObjectStoragePath('file://...'); its release-day constraints had 0.2.x. The 2.11 line declares the
# same open-ended requirement.
_PINS: dict[str, tuple[str, ...]] = {
    "2.9": ("universal-pathlib<0.3",),
    "2.10": ("universal-pathlib<0.3",),
    "2.11": ("universal-pathlib<0.3",),
}


@dataclass(frozen=True, order=True)
class AirflowVersion:
    major: int
    minor: int
    patch: int

    PROVISIONABLE_LINES: ClassVar[tuple[str, ...]] = ("2.9", "2.10", "2.11", "3.0", "3.2", "3.3")
    _PATTERN: ClassVar[re.Pattern[str]] = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:[.+-].*)?$")

    @classmethod
    def parse(cls, text: str) -> AirflowVersion:
        match = cls._PATTERN.match(text.strip())
        if not match:
            raise ValueError(f"not an Airflow version: {text!r}")
        return cls(*(int(part) for part in match.groups()))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def line(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def is_provisionable(self) -> bool:
        return self.line in self.PROVISIONABLE_LINES

    @property
    def is_airflow3(self) -> bool:
        return self.major >= 3

    def requirements(self) -> tuple[str, ...]:
        """What to install for an ephemeral environment of this version on PostgreSQL."""
        return (f"apache-airflow[postgres]=={self}", *_PINS.get(self.line, ()))

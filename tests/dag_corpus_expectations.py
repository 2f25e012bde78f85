"""What each file of tests/dag_corpus must do on each Airflow version, read from its `# expect-...:` lines.

`# expect-<versions>: <kind>: <text>`: versions `all`, `2x`, `3x` or `3.2+` (that minor and later); kind `import`
(the file fails to import, its headline contains text), `findings` (a breaking static finding contains text),
`shape` (its DAG's shape test fails with text) or `warning` (its DAG is named in a sign-off warning). A file
without a line for a version is clean there: it imports and defines the DAG named after the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "dag_corpus"
# the corpus environments' [core] dagbag_import_timeout, which parse_timeout.py exceeds
CORPUS_IMPORT_TIMEOUT = "10"
_EXPECT = re.compile(r"^# expect-(all|2x|3x|\d+\.\d+\+): (import|findings|shape|warning): (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Expectation:
    file: str
    versions: str
    kind: str
    text: str

    def applies_to(self, version: str) -> bool:
        major, minor = (int(part) for part in version.split(".")[:2])
        if self.versions == "all":
            return True
        if self.versions.endswith("x"):
            return major == int(self.versions[0])
        low_major, low_minor = (int(part) for part in self.versions.rstrip("+").split("."))
        return (major, minor) >= (low_major, low_minor)


def expectations(version: str, kind: str | None = None) -> dict[str, list[Expectation]]:
    """Every corpus .py file with the expectations that apply on `version` (of `kind`, if given)."""
    found: dict[str, list[Expectation]] = {}
    for path in sorted(CORPUS.glob("*.py")):
        items = [Expectation(path.name, *match) for match in _EXPECT.findall(path.read_text())]
        found[path.name] = [item for item in items if item.applies_to(version) and kind in (None, item.kind)]
    return found

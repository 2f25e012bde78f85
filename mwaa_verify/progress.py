"""Progress lines for slow work (virtualenvs, databases, migrations), on stderr so stdout stays clean."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def say(message: str) -> None:
    if not _quiet:
        print(f"[mwaa-verify] {message}", file=sys.stderr, flush=True)


@contextmanager
def step(message: str) -> Iterator[None]:
    """Announce a slow step, then report how long it took (or that it failed)."""
    say(f"{message} ...")
    started = time.monotonic()
    try:
        yield
    except BaseException:
        say(f"{message}: failed after {time.monotonic() - started:.1f} s")
        raise
    say(f"{message}: done in {time.monotonic() - started:.1f} s")

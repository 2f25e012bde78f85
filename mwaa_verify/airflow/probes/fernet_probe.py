"""Runs inside an environment's own interpreter: writes its configured Fernet key(s) to --out (mode 0600).

The key is how this environment encrypts variable values and connection secrets. It is written to a file
only the caller can read, never to stdout or stderr.
"""

import argparse
import os
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    from airflow.configuration import conf

    key = conf.get("core", "fernet_key", fallback="") or ""
    descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write('{"fernet_key": ' + __import__("json").dumps(key) + "}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Describe the Airflow installation this interpreter runs: versions, installed distributions, config.

Runs inside the environment's interpreter; standard library and Airflow only. Sensitive options are
hidden by Airflow itself (display_sensitive=False) and never leave the environment.
Usage: python env_probe.py --out FILE.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import sys

# Belt and braces beyond Airflow's own sensitive flag: any option named like a secret is hidden. This runs in
# the environment's interpreter, without mwaa-verify: keep the words in step with config_map.SENSITIVE_WORDS.
SENSITIVE_WORDS = ("secret", "password", "passwd", "token", "fernet", "sql_alchemy_conn", "private", "key", "dsn",
                   "credential", "broker_url", "result_backend", "backend_kwargs")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import airflow
    from airflow.configuration import conf

    options, explicit = {}, []
    for section, values in conf.as_dict(display_source=True, display_sensitive=False).items():
        for option, shown in values.items():
            value, source = shown if isinstance(shown, tuple) else (shown, "default")
            hide = value and any(word in option.lower() for word in SENSITIVE_WORDS)
            options[f"{section}.{option}"] = "< hidden >" if hide else str(value)
            # defaults: "default", 2.x's "default-pre-2-7", 3.x's provider fallbacks ("provider-cfg-fallback-defaults")
            if not str(source).startswith("default") and not str(source).endswith("-defaults"):
                explicit.append(f"{section}.{option}")
    distributions = sorted(
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    )
    plugins_folder = options.get("core.plugins_folder", "")
    plugins = sorted(
        name for name in (os.listdir(plugins_folder) if os.path.isdir(plugins_folder) else []) if name.endswith(".py")
    )
    report = {
        "airflow_version": airflow.__version__,
        "python_version": platform.python_version(),
        "config_options": options,
        "explicit_options": sorted(explicit),
        "requirements": distributions,
        "plugins": plugins,
    }
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

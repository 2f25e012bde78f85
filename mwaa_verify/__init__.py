"""mwaa-verify: prove that a migrated Airflow / Amazon MWAA environment is a faithful copy of its source."""

__version__ = "0.1.0"

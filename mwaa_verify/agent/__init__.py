"""The agent: code mwaa-verify ships into an MWAA environment as a DAG, to read or write its metadata database
from inside (MWAA exposes no other way to it). Everything here runs in an Airflow task process on MWAA, so it
imports only what MWAA's images have (the standard library, SQLAlchemy, psycopg2, cryptography, boto3) and the
few mwaa_verify modules the bundle carries (environments/mwaa_agent.py builds it)."""

"""Streaming keyed comparison of two row sources (engine.py), and its use on Airflow metadata (metadata.py)."""

"""Boundary's logic: ingestion, schemas, metrics, flags and charts. Never imports streamlit."""

"""One module per metric family; pure functions over a DuckDB connection."""

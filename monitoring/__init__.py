"""Operations: Prometheus metrics at /metrics, read from the database at scrape time."""

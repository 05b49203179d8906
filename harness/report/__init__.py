"""Results -> matplotlib figures -> a self-contained HTML page."""

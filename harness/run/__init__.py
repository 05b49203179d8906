"""Running a scenario: cells, the runner, provenance, and the harness's own benchmark."""

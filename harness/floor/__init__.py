"""The floor: what the harness measures when the service does no work at all."""

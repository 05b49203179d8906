"""Proving services identical and robust: conformance vectors and fuzzing."""

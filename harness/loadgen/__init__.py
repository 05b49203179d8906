"""Load generation: the protocol of contract/LOADGEN.md, its Python implementation and the Locust entry point."""

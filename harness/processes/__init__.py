"""The processes a run owns: services, redis-server, load generators; and services on other hosts."""

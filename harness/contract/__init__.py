"""What the harness knows of the contract: service manifests, transports, test vectors."""

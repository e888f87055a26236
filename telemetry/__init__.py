"""The wire contract between gateway and server: readings, quantities, topics, payload codec."""

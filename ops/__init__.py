"""What the server's services share for being operated: their Prometheus endpoint."""

"""The ingest service: MQTT reading batches in, InfluxDB points out, nothing lost in between."""

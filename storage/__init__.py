"""InfluxDB access: the documented schema, line protocol writes and InfluxQL queries."""

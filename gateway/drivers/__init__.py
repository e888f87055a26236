"""Device drivers, one module per protocol. Drivers know serial ports and bytes, nothing of MQTT."""

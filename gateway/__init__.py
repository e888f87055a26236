"""The Raspberry Pi gateway: reads serial field devices and publishes their readings over MQTT."""

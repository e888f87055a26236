"""Server-side metadata: villages, fields, gateways and devices, and where each device is."""

"""The ``tani`` command: the one entry point that wires the components together."""

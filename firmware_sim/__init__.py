"""Emulated field devices speaking the real protocols on pseudo-terminals.

``site.SimulatedSite`` puts a Modbus RTU soil-probe bus and an ASCII weather station on ptys,
driven by the physical model in ``model``; ``site.run_forever`` is what ``tani sim`` runs.
"""

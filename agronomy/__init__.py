"""The agronomy of a field, as pure code: crops and their stages, soils, moisture states and
thresholds, reference evapotranspiration, the crop water balance, soil chemistry classes and
the advice a farmer can act on.

Nothing here does I/O: the API, alerts and dashboards read the registry and InfluxDB and hand
plain values to these functions. Every number cites its source where it is defined.
"""

"""Load and PV forecasting with darts: data, models, backtests, registry, cycle.

Import the submodules; this package imports nothing itself (`vpp.config` imports its
settings, and darts is heavy).
"""

"""Optimisation of home batteries: site signals, the observation, a gymnasium env, the
baselines (no battery, rule-based, the perfect-foresight LP), SB3 policies (acting alone,
or correcting the rule-based controller: `residual`) and their training and evaluation.

Import the submodules; this package imports nothing itself (`vpp.config` imports its
settings, and torch is heavy).
"""

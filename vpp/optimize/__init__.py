"""The optimisation cycle's own pieces: settings, messages, the safety guard, decisions and
the automation switch. The policy itself is `vpp.ml.rl`; the workflow is
`vpp.workflows.optimize`, its activities `vpp.activities.optimize`."""

"""Drift monitoring for a shipped run: two-sample tests in the model's embedding and output spaces and a
label-free accuracy estimate (:mod:`headstart.monitor.stats`, :mod:`headstart.monitor.cbpe`,
:mod:`headstart.monitor.monitor`)."""

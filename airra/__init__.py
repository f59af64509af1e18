"""AIRRA: a deterministic incident-response decision core.

The package answers, for an alert about a service: what is probably wrong,
how big the impact is, which actions could fix it, what each would cost,
and which one to propose. It knows nothing of Slack; the ``bot`` package
renders its results.
"""

__version__ = "0.1.0"

"""AIRRA: a deterministic incident-response decision core.

For an alert about a service, the package works out what is probably wrong,
how big the impact is, which actions could fix it, what each would cost,
and which one to propose. It does not import Slack code, because the
``bot`` package renders its results.
"""

__version__ = "0.1.0"

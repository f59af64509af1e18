"""AIRRA's Slack bot: a Slack Bolt (async) app on top of the ``airra`` decision core."""

"""Alert intake: Alertmanager webhooks and alert posts in Slack, normalised to ``Alert``."""

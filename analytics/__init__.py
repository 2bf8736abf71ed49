"""Analytics: the interaction log, KPIs, emerging-issue detection and alerts, knowledge-gap reports."""

from analytics.events import EventKind, InteractionEvent, customer_key
from analytics.log import InteractionLog

__all__ = ["EventKind", "InteractionEvent", "InteractionLog", "customer_key"]

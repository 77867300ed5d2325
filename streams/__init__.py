"""riskalert: an event-streaming risk-alert pipeline for anti-fraud centres."""

__version__ = "0.1.0"

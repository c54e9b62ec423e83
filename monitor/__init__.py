"""quality-monitor: watches Chinese government and media sites for quality-province news."""

__version__ = "0.1.0"

"""Integration Console: a desktop admin console for the data-integration platform."""

__version__ = "0.1.0"

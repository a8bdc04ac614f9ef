"""Connector logs: one entry per logged request or pipeline event, its bodies, stream and trace."""

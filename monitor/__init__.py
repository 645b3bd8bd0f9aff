"""Self-hosted brand-mention and reputation monitoring for community managers."""

__version__ = "0.1.0"

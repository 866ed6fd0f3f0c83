"""VPP: a Virtual Power Plant platform orchestrated by Temporal workflows."""

__version__ = "0.1.0"

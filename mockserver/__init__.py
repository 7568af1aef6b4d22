"""Open Dental Tasks mock server: the Open Dental REST API Tasks resource, in memory."""
from .app import create_app

__all__ = ["create_app"]

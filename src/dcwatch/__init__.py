"""dcwatch: identity threat detection for Active Directory."""

__version__ = "0.1.0"

"""dns-autopilot: a certbot DNS-01 authenticator that waits on evidence and explains failures."""

__version__ = "0.1.0"

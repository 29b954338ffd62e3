"""The certbot glue: the plugin certbot loads (`authenticator`) and one run's steps (`run`).

certbot stores the entry point's name (``authenticator = dns-autopilot``) in renewal
configurations, not this module path, so the glue may live here.
"""

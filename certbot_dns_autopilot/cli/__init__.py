"""The `dns-autopilot` command: `doctor` (every pre-flight probe without an ACME order),
`fleet` (`doctor --all` over every lineage certbot renews) and `renewal` (certbot's
renewal state, read only).
"""

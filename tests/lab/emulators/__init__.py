"""Local emulators of DNS providers' APIs, written in the test suite.

Each speaks its provider's real wire format to the provider's official SDK and writes
through to the lab's BIND primary (`bind.ZoneBackend`), so a cloud writer is exercised end
to end: certbot → SDK → emulator → BIND → the waiter and Pebble.
"""

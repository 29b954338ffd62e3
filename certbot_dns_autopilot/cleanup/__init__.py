"""Cleanup: what a run wrote is taken away again, even after a kill.

`journal` records every value before it is written (a killed run leaves it for the next run
to remove); `signals` notices a termination that certbot's handlers may have lost.
"""

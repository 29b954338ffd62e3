"""The wait: every authoritative address serving the values, then the resolvers
(`waiter.Waiter`); what their answers mean is read in `answers`."""

from .waiter import Waiter

__all__ = ["Waiter"]

"""After a failed challenge: the CA's words (`ca_errors`), the live evidence (`evidence`),
and the cause they point to (`rules`, pure)."""

from .rules import Diagnosis, diagnose, how_differs

__all__ = ["Diagnosis", "diagnose", "how_differs"]

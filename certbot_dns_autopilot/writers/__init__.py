"""Record writers: one per DNS provider, all behind the small `Writer` interface, and the
map from zones to writers that one credentials file configures.

A writer knows how to find the zone that holds a name, add TXT values and remove exactly
those values again. It never sleeps or polls for propagation: the waiter does that for
every writer alike, by asking the zone's nameservers.

The credentials file holds one writer at its top level (the foundation format, which may
serve every zone) and any number of further writers in sections, each listing its zones:

    dns_autopilot_rfc2136_server = 192.0.2.1       # top level: serves any zone ...
    dns_autopilot_rfc2136_name = acme-key          # ... unless dns_autopilot_zones lists them
    dns_autopilot_rfc2136_secret = ...

    [acme-delegation]
    dns_autopilot_zones = acme.example.org
    dns_autopilot_rfc2136_server = 192.0.2.2
    ...

Each writer is one module here, named for its kind (`registry` finds them; `writermap` is one
file's zones and writers); an SDK writer keeps its API half in ``<kind>_api.py``. What they
share: `writer` (the base class, and the `Context` a run hands each writer), `schema` (keys
declared and read), `sections`, `zonelist`, `endpoints`, `secretfile`, `txt`, `tsig`,
`apierrors`, `retry` and `locks`.
"""

from .locks import Locks
from .sections import SectionKeys
from .writer import PROBE_PREFIX, RECORD_TTL, Context, Records, Writer
from .writermap import WriterMap, writers_from_credentials
from .zonelist import ZONES_KEY

__all__ = ["PROBE_PREFIX", "RECORD_TTL", "ZONES_KEY", "Context", "Locks", "Records",
           "SectionKeys", "Writer", "WriterMap", "writers_from_credentials"]

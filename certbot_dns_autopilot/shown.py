"""Text from outside (DNS data, a hook's output) made safe to show and to log.

TXT, CAA, CNAME and NS data come from whoever can write at a name; printed raw, an ANSI
escape or a carriage return in them could rewrite the user's terminal or forge lines in
certbot's log. Everything such data passes through on its way to a screen or a log goes
through `shown`, which keeps printable text as it is and writes anything else as an escape.
"""

from __future__ import annotations

import shlex

LONG = 4000  # a whole message or evidence row: cut only when absurd

def shown(value: object, limit: int = 512) -> str:
    """``value`` as printable text: control characters, ANSI escapes, CR/LF and bytes that
    are not UTF-8 as ``\\xNN``/``\\uNNNN`` escapes, cut at ``limit`` characters with a
    note of the length."""
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", errors="backslashreplace")
    else:
        text = str(value)
    out = []
    for char in text:
        if char.isprintable():
            out.append(char)
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
    result = "".join(out)
    if len(result) > limit:
        result = result[:limit] + f"… ({len(result)} characters)"
    return result


def quoted(*words: str) -> str:
    """A command line for the user to paste: each word shell-quoted, and shown."""
    return " ".join(shown(shlex.quote(word), limit=1024) for word in words)

"""Who wrote a temporary file or holds a lock: "host pid" tokens, and whether that process still lives.

A file or lock left by a process of this host that no longer runs is safe to remove or take over; one of
another host is judged by other means (a lease's age)."""

from __future__ import annotations

import os
import socket
import uuid

HOST = socket.gethostname()


def token() -> str:
    """A unique holder token: host, pid, random."""
    return f"{HOST} {os.getpid()} {uuid.uuid4().hex}"


def temp_name(name: str) -> str:
    """`<name>.<host>.<pid>.<random>`: a temporary file name that `dead_temp_file` can judge later."""
    return f"{name}.{HOST}.{os.getpid()}.{uuid.uuid4().hex[:8]}"


def dead_temp_file(entry: str) -> bool:
    """`entry` is a `temp_name` of a process of this host that is gone."""
    parts = entry.rsplit(".", 3)
    return len(parts) == 4 and parts[1] == HOST and parts[2].isdigit() and not pid_alive(int(parts[2]))


def dead_holder(holder: list[str]) -> bool:
    """A split `token` names a process of this host that is gone."""
    return len(holder) >= 2 and holder[0] == HOST and holder[1].isdigit() and not pid_alive(int(holder[1]))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""Storage accounts: what a guest has added to the storage vfswasi keeps in memory for it.

Some mounts hold their data in the host's memory (or a temporary file): `mem://` and MemoryFS
mounts, writable archives, overlay upper layers, fsspec write spools. A guest that could grow
them without bound would take the host down, so those backends charge every growth to a
`StorageAccount` *before* allocating anything, and answer ENOSPC when it does not fit: the
guest sees a full disk, the host keeps its memory, and nothing already written is lost.

Accounts form a chain. A WASI instance has one account for all its mounts, capped by
`Limits.disk_bytes` / `Limits.disk_inodes` (`StorageAccount.for_limits`); each mount gets a
child of it, capped by its `Quota` from `Limits.mounts` (`account.for_mount(quota)`). A
charge must fit every cap from the mount's up to the instance's, and is then counted in all
of them; a refund (a negative delta) always succeeds.

What is counted: the net growth caused through the mount, in

- bytes: the length of every file (a hole past the end counts in full: memory backends store
  its zeros), the length of every symlink target (UTF-8), and the bytes of fsspec write
  spools (a spool holds a whole copy of a file open for writing, from its first write until
  its last handle closes);
- inodes: every file, directory and symlink made, and every further name of a file (a hard
  link), as tmpfs counts them.

Growth is charged when it happens: a write or truncate that extends a file, a new entry, a
hard link. Shrinking a file (truncate, O_TRUNC) refunds at once; removing a name of a hard
link refunds that name; removing an entry's last name refunds its bytes and inode once it is
really gone, i.e. when its last open handle closes (an unlinked file still open holds its data,
so a guest cannot keep 1024 fds of unlinked data for free).

Only what happens through a mount is counted. What was there before costs nothing (the user's
MemoryFS content, a writable archive's members loaded at mount time, an overlay's lower), but
removing or shrinking it refunds: the count is the net growth of the storage, so it may go
below zero, and a guest that deletes a pre-existing 10 MiB file may then write 10 MiB more
than its quota (the host is still no worse off than the quota above its starting point).
Changes made behind a mount's back (the user's own PyFilesystem2 calls while a guest runs)
are not seen.
"""

from __future__ import annotations

import errno
import threading

from .limits import Limits, Quota
from .vfs import oserror

__all__ = ["StorageAccount"]


class StorageAccount:
    """Bytes and inodes charged against optional caps (`max_bytes`, `max_inodes`; None: no
    cap), and against every cap of `parent` and its parents (see the module docstring).

    `used_bytes` / `used_inodes` is what is charged now (net: may be negative),
    `peak_bytes` / `peak_inodes` the most it has been, `denied` how many charges answered
    ENOSPC. Thread-safe: a chain shares one lock.
    """

    __slots__ = ("name", "max_bytes", "max_inodes", "parent", "used_bytes", "used_inodes",
                 "peak_bytes", "peak_inodes", "denied", "_chain", "_lock", "__weakref__")

    def __init__(self, max_bytes: int | None = None, max_inodes: int | None = None, *,
                 parent: StorageAccount | None = None, name: str = "") -> None:
        for value in (max_bytes, max_inodes):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):
                raise ValueError(f"a storage cap is a non-negative int or None, not {value!r}")
        self.name = name
        self.max_bytes = max_bytes
        self.max_inodes = max_inodes
        self.parent = parent
        self.used_bytes = 0
        self.used_inodes = 0
        self.peak_bytes = 0
        self.peak_inodes = 0
        self.denied = 0
        # the accounts a charge goes to, this one first; fixed at creation, so a charge walks
        # a tuple instead of following parents
        self._chain: tuple[StorageAccount, ...] = (self,) + (parent._chain if parent else ())
        self._lock: threading.Lock = parent._lock if parent is not None else threading.Lock()

    @property
    def root(self) -> StorageAccount:
        """The last account of the chain: the instance-wide one."""
        return self._chain[-1]

    @classmethod
    def for_limits(cls, limits: Limits) -> StorageAccount:
        """The instance-wide account of a WASI instance run under `limits`."""
        return cls(limits.disk_bytes, limits.disk_inodes, name="instance")

    def for_mount(self, quota: Quota | None = None, name: str = "") -> StorageAccount:
        """A child account for one mount, capped by `quota` (None: only by this account)."""
        quota = quota if quota is not None else Quota()
        return StorageAccount(quota.bytes, quota.inodes, parent=self, name=name)

    def charge(self, bytes_delta: int = 0, inodes_delta: int = 0) -> None:
        """Count `bytes_delta` bytes and `inodes_delta` inodes more (negative: fewer).

        Raises OSError(ENOSPC), counting nothing, when a positive delta would take any
        account of the chain past its cap; call it before allocating what it pays for."""
        if not (bytes_delta or inodes_delta):
            return
        with self._lock:
            for acct in self._chain:
                if ((bytes_delta > 0 and acct.max_bytes is not None
                     and acct.used_bytes + bytes_delta > acct.max_bytes)
                        or (inodes_delta > 0 and acct.max_inodes is not None
                            and acct.used_inodes + inodes_delta > acct.max_inodes)):
                    for a in self._chain:
                        a.denied += 1
                    raise oserror(errno.ENOSPC)
            for acct in self._chain:
                acct.used_bytes += bytes_delta
                acct.used_inodes += inodes_delta
                if acct.used_bytes > acct.peak_bytes:
                    acct.peak_bytes = acct.used_bytes
                if acct.used_inodes > acct.peak_inodes:
                    acct.peak_inodes = acct.used_inodes

    def refund(self, bytes_delta: int = 0, inodes_delta: int = 0) -> None:
        """Count `bytes_delta` bytes and `inodes_delta` inodes fewer (never fails)."""
        self.charge(-bytes_delta, -inodes_delta)

    def room(self) -> tuple[int | None, int | None]:
        """(bytes, inodes) that can still be charged before ENOSPC (None: no cap)."""
        with self._lock:
            room_b = [a.max_bytes - a.used_bytes for a in self._chain if a.max_bytes is not None]
            room_i = [a.max_inodes - a.used_inodes for a in self._chain
                      if a.max_inodes is not None]
        return (max(0, min(room_b)) if room_b else None,
                max(0, min(room_i)) if room_i else None)

    def __repr__(self) -> str:
        return (f"StorageAccount({self.name!r}, bytes={self.used_bytes}/{self.max_bytes}, "
                f"inodes={self.used_inodes}/{self.max_inodes})")

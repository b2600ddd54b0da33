# Shared by the access store tests: a RAM file system with the calls the
# store uses on a vfs.VfsLfs2 object (open/stat/rename/remove/ilistdir/mkdir),
# with a power cut after a given number of changing operations, and helpers.
import json
from comms.access import AccessError


class _W:
    """A file open for writing: the data becomes the file at close, as
    littlefs commits a file at close (a cut before leaves the old content)."""

    def __init__(self, fs, path):
        self.fs = fs
        self.path = path
        self.buf = bytearray()
        fs._op("open " + path)

    def write(self, b):
        self.fs._op("write " + self.path)
        self.buf.extend(b)
        return len(b)

    def close(self):
        if self.buf is None:
            return
        self.fs._op("close " + self.path)
        self.fs.files[self.path] = bytes(self.buf)
        self.buf = None


class _R:
    def __init__(self, data):
        self.data = data

    def read(self, n=-1):
        d = self.data
        self.data = b""
        return d

    def close(self):
        pass


class RamFS:
    def __init__(self):
        self.files = {}
        self.ops = []            # changing operations, in order
        self.cut_at = -1         # the operation with this index fails, and every later one
        self.dead = False

    def _op(self, what):
        if self.dead or (self.cut_at >= 0 and len(self.ops) >= self.cut_at):
            self.dead = True
            raise OSError(5)     # EIO: the power is gone
        self.ops.append(what)

    def power_on(self):
        self.dead = False
        self.cut_at = -1

    def open(self, path, mode):
        if "w" in mode:
            return _W(self, path)
        if self.dead:
            raise OSError(5)
        if path not in self.files:
            raise OSError(2)
        return _R(self.files[path])

    def stat(self, path):
        if path not in self.files:
            raise OSError(2)
        return (0x8000, 0, 0, 0, 0, 0, len(self.files[path]), 0, 0, 0)

    def rename(self, a, b):
        if a not in self.files:
            raise OSError(2)
        self._op("rename %s %s" % (a, b))
        self.files[b] = self.files.pop(a)

    def remove(self, path):
        if path not in self.files:
            raise OSError(2)
        self._op("remove " + path)
        del self.files[path]

    def ilistdir(self, path="/"):
        return iter([(p.lstrip("/"), 0x8000, 0, len(d)) for p, d in self.files.items()])

    def mkdir(self, path):
        pass


def out(case, **kw):
    kw["case"] = case
    print(json.dumps(kw))


async def status(fn, *a, **kw):
    """"ok" (and the result) or the AccessError status of a call, sync or async."""
    try:
        r = fn(*a, **kw)
        if hasattr(r, "send"):
            r = await r
        return "ok"
    except AccessError as e:
        return e.status


def audit_all(audit, since=0):
    got = []
    seq = since
    while True:
        ents, _ = audit.since(seq, 100)
        if not ents:
            return got
        got.extend(ents)
        seq = ents[-1]["seq"]

# Which devices answered at boot and how their error counters stand since.


class Health:
    def __init__(self):
        self.devices = {}  # name -> {"part", "ok", "error", "driver"}
        self.failsafe = None  # set by the supervisor: {"task", "error", "failures", "utc_ms"}
        self.gc = None        # the heap task's figures (firmware/heap.py): collects, last_us, worst_us

    def add(self, name, part, driver=None, error=None):
        self.devices[name] = {"part": part, "ok": error is None,
                              "error": None if error is None else describe(error), "driver": driver}

    def ok(self):
        return all(d["ok"] for d in self.devices.values())

    def report(self):
        out = {}
        for name, d in self.devices.items():
            e = {"part": d["part"], "ok": d["ok"]}
            if d["error"]:
                e["error"] = d["error"]
            drv = d["driver"]
            if drv is not None and hasattr(drv, "errors"):
                e["errors"] = drv.errors.as_dict()
            out[name] = e
        return out


def describe(e):
    """'AbsentError: fram: no answer to RDID' from an exception and its args."""
    return "%s: %s" % (type(e).__name__, ": ".join(str(a) for a in e.args))

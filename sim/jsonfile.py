# Strict JSON for the simulation's input files (scenarios, calibration sets,
# twin error specs): MicroPython's json.loads says only "syntax error in JSON"
# and accepts some invalid text (trailing commas), so input files are parsed
# here instead, and an error names the line and column (1-based) like
# CPython's json does:  "FILE: line 3 column 14: expected ',' or '}'".
#
#   load(path, what)   -> value; InputError naming the file otherwise
#   loads(text)        -> value; JsonError (a ValueError with .line/.col)
#   fail(msg)          -> prints "error: msg" on stderr, exits 2 (no traceback)
#   warn(msg)          -> prints "warning: msg" on stderr
import sys


class InputError(ValueError):
    """Bad user input (a file or an argument): the message is one line that
    names the file/argument and what is wrong."""


class JsonError(InputError):
    def __init__(self, msg, line, col):
        super().__init__("line %d column %d: %s" % (line, col, msg))
        self.line = line
        self.col = col


_ESC = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_WS = " \t\n\r"
_NUM = "0123456789"


class _P:
    def __init__(self, s):
        self.s = s
        self.i = 0

    def err(self, msg, i=None):
        i = self.i if i is None else i
        s = self.s
        line = s.count("\n", 0, i) + 1
        col = i - (s.rfind("\n", 0, i) + 1) + 1
        raise JsonError(msg, line, col)

    def ws(self):
        s = self.s
        i = self.i
        n = len(s)
        while i < n and s[i] in _WS:
            i += 1
        self.i = i

    def what(self):
        if self.i >= len(self.s):
            return "end of file"
        return repr(self.s[self.i])

    def value(self):
        self.ws()
        s = self.s
        if self.i >= len(s):
            self.err("expected a value, found end of file")
        c = s[self.i]
        if c == "{":
            return self.obj()
        if c == "[":
            return self.arr()
        if c == '"':
            return self.string()
        if c == "-" or c in _NUM:
            return self.number()
        for word, v in (("true", True), ("false", False), ("null", None)):
            if s.startswith(word, self.i):
                self.i += len(word)
                return v
        self.err("expected a value, found %s" % self.what())

    def obj(self):
        self.i += 1
        d = {}
        self.ws()
        if self.s[self.i:self.i + 1] == "}":
            self.i += 1
            return d
        while True:
            self.ws()
            if self.s[self.i:self.i + 1] != '"':
                self.err("expected a string key, found %s" % self.what())
            k = self.string()
            self.ws()
            if self.s[self.i:self.i + 1] != ":":
                self.err("expected ':' after key %r, found %s" % (k, self.what()))
            self.i += 1
            d[k] = self.value()
            self.ws()
            c = self.s[self.i:self.i + 1]
            if c == "}":
                self.i += 1
                return d
            if c != ",":
                self.err("expected ',' or '}', found %s" % self.what())
            self.i += 1
            self.ws()
            if self.s[self.i:self.i + 1] == "}":
                self.err("trailing comma before '}'")

    def arr(self):
        self.i += 1
        a = []
        self.ws()
        if self.s[self.i:self.i + 1] == "]":
            self.i += 1
            return a
        while True:
            a.append(self.value())
            self.ws()
            c = self.s[self.i:self.i + 1]
            if c == "]":
                self.i += 1
                return a
            if c != ",":
                self.err("expected ',' or ']', found %s" % self.what())
            self.i += 1
            self.ws()
            if self.s[self.i:self.i + 1] == "]":
                self.err("trailing comma before ']'")

    def string(self):
        s = self.s
        i0 = self.i
        i = i0 + 1
        n = len(s)
        out = []
        while True:
            j = i
            while j < n and s[j] != '"' and s[j] != "\\" and s[j] >= " ":
                j += 1
            out.append(s[i:j])
            if j >= n:
                self.err("unterminated string", i0)
            c = s[j]
            if c == '"':
                self.i = j + 1
                return "".join(out)
            if c != "\\":
                self.err("control character in string", j)
            e = s[j + 1:j + 2]
            if e in _ESC:
                out.append(_ESC[e])
                i = j + 2
            elif e == "u":
                cp = self.hex4(j + 2)
                i = j + 6
                if 0xD800 <= cp < 0xDC00 and s[i:i + 2] == "\\u":
                    lo = self.hex4(i + 2)
                    if 0xDC00 <= lo < 0xE000:
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                        i += 6
                out.append(chr(cp))
            else:
                self.err("bad escape in string", j)

    def hex4(self, i):
        h = self.s[i:i + 4]
        if len(h) != 4 or any(c not in "0123456789abcdefABCDEF" for c in h):
            self.err("bad \\u escape in string", i - 2)
        return int(h, 16)

    def number(self):
        s = self.s
        i0 = i = self.i
        n = len(s)
        if s[i] == "-":
            i += 1
        if i >= n or s[i] not in _NUM:
            self.err("bad number", i0)
        if s[i] == "0":
            i += 1
            if i < n and s[i] in _NUM:
                self.err("number with a leading zero", i)
        while i < n and s[i] in _NUM:
            i += 1
        frac = False
        if i < n and s[i] == ".":
            i += 1
            frac = True
            if i >= n or s[i] not in _NUM:
                self.err("bad number", i0)
            while i < n and s[i] in _NUM:
                i += 1
        if i < n and s[i] in "eE":
            i += 1
            frac = True
            if i < n and s[i] in "+-":
                i += 1
            if i >= n or s[i] not in _NUM:
                self.err("bad number", i0)
            while i < n and s[i] in _NUM:
                i += 1
        self.i = i
        t = s[i0:i]
        return float(t) if frac else int(t)


def loads(text):
    """Parse JSON text strictly (RFC 8259); JsonError names line and column."""
    p = _P(text)
    v = p.value()
    p.ws()
    if p.i < len(text):
        p.err("extra data after the JSON value: %s" % p.what())
    return v


def read_text(path):
    """The file's text; InputError if it is missing, unreadable or not UTF-8 text."""
    try:
        with open(path, "rb") as f:
            b = f.read()
    except OSError as e:
        no = e.args[0] if e.args else 0
        raise InputError("%s: %s" % (path, "no such file" if no == 2 else
                                     "is a directory" if no == 21 else "cannot read (errno %s)" % no))
    try:
        return b.decode()
    except UnicodeError:
        raise InputError("%s: not a text file" % path)


def load(path):
    """Read and parse a JSON file; InputError "PATH: line L column C: ..." otherwise."""
    text = read_text(path)
    try:
        return loads(text)
    except JsonError as e:
        raise InputError("%s: invalid JSON: %s" % (path, e))


def fail(msg, code=2):
    """One line on stderr and exit: for refusing bad input without a traceback."""
    sys.stderr.write("error: %s\n" % msg)
    sys.exit(code)


def warn(msg):
    sys.stderr.write("warning: %s\n" % msg)

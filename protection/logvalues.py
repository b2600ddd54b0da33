# Event values as protection logs them (every part uses this one helper).
from core import codes


def rounded(vals, code=None):
    """Values for the log: floats rounded; values outside the code's numeric
    schema (kept as "k#v" extras in the FRAM record's text, read back as
    numbers) to 4 significant digits, so their text stays short."""
    nums = codes.EVENT_VALUES.get(code, codes.DEFAULT_VALUES)[0] if code is not None \
        else codes.DEFAULT_VALUES[0]
    named = [k for k, t in nums]
    out = {}
    for k, v in vals.items():
        if type(v) is float:
            v = round(v, 3) if k in named else float("%.4g" % v)
        out[k] = v
    return out

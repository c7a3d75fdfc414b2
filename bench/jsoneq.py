#!/usr/bin/env python3
# jsoneq.py A.json B.json — prints "yes" when the two JSON documents are equal
# up to the order of floating-point additions (numbers within 1e-9, relative
# or absolute: sums of values that are not exact binary fractions may differ
# in the last bits when added in another order), else "no".
import json
import math
import sys


def eq(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return (a is None and b is None) or (a is not None and b is not None and
                                             math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(eq(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(eq, a, b))
    return a == b


def docs(path):
    # one document, or several one after the other (a JSON stream)
    text, dec, out, i = open(path).read(), json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        d, i = dec.raw_decode(text, i)
        out.append(d)
    return out


print("yes" if eq(docs(sys.argv[1]), docs(sys.argv[2])) else "no")

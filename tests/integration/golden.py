"""Golden files (Postfix's .ref files) for output people read.

check(name, text) compares text with tests/golden/NAME.ref; with
GOLDEN_UPDATE=1 in the environment it rewrites the reference instead
(review the change with `git diff tests/golden`).  normalise() replaces
only what must vary from run to run: given literals (ports, temporary
paths, generated keys), queue ids, times and dates, and "in 5s"/"12s ago"
relative times.
"""
import difflib
import os
import re
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "golden"

PATTERNS = [
    (re.compile(r"\b[0-9A-Z]{16}\b"), "<QID>"),                       # spool ids
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), "<TIME>"),         # ISO 8601
    (re.compile(r"[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}"), "<DATE>"),
    (re.compile(r"\.\d{9,10}@"), ".<UNIXTIME>@"),                     # Message-ID
    (re.compile(r"\bin \d+[sm]\b"), "in <N>"),
    (re.compile(r"\b\d+s ago\b"), "<N>s ago"),
]


def normalise(text, literals=None):
    """literals: {exact text: placeholder}, longest first."""
    for lit, repl in sorted((literals or {}).items(), key=lambda kv: -len(kv[0])):
        text = text.replace(lit, repl)
    for rx, repl in PATTERNS:
        text = rx.sub(repl, text)
    return text


def check(name, text):
    path = GOLDEN / (name + ".ref")
    if os.environ.get("GOLDEN_UPDATE") == "1":
        path.write_text(text)
        return
    assert path.exists(), "%s is missing: make it with GOLDEN_UPDATE=1" % path
    want = path.read_text()
    if want != text:
        diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True),
                                            str(path), "output"))
        raise AssertionError("output differs from %s (GOLDEN_UPDATE=1 rewrites it if the change "
                             "is meant):\n%s" % (path, diff))

#!/usr/bin/env python3
"""`meson install` yields the documented layout: outpostd in sbin, outpost
in bin, outpost-postdrop in libexec, sendmail (sbin) and mailq (bin) links to outpost, the three man
pages, the example config under share/doc/outpost/ and the systemd unit,
and nothing under etc/ (an installed /etc/outpost/outpost.conf is never
overwritten).  Usage: check_install.py BUILD_DIR PREFIX
"""
import os
import pathlib
import subprocess
import sys
import tempfile

build, prefix = sys.argv[1], sys.argv[2].lstrip("/")
with tempfile.TemporaryDirectory() as dest:
    r = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet", "--destdir", dest],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("meson install failed:", r.stdout, r.stderr)
        sys.exit(1)
    root = pathlib.Path(dest) / prefix
    want = ["sbin/outpostd", "bin/outpost", "libexec/outpost-postdrop", "share/man/man1/outpost.1", "share/man/man5/outpost.conf.5",
            "share/man/man8/outpostd.8", "share/doc/outpost/outpost.conf.example",
            "lib/systemd/system/outpostd.service"]
    bad = [w for w in want if not (root / w).is_file()]
    for link in ("sbin/sendmail", "bin/mailq"):
        p = root / link
        if not p.is_symlink() or os.path.basename(os.readlink(p)) != "outpost":
            bad.append(link + " (a link to outpost)")
    if any(pathlib.Path(dest).rglob("etc/*")):
        bad.append("nothing under etc/")
    unit = (root / "lib/systemd/system/outpostd.service").read_text() if not bad else ""
    if unit and "ExecStart=/%s/sbin/outpostd " % prefix not in unit:
        bad.append("the unit's ExecStart naming the installed outpostd")
    print("missing:", ", ".join(bad) if bad else "nothing")
    sys.exit(1 if bad else 0)

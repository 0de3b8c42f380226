#!/usr/bin/env python3
"""`systemd-analyze verify` finds nothing wrong with the installed unit.

The unit as meson configured it names the installed outpostd, which does
not exist at test time, so a copy names the freshly built one; its
Documentation= man pages are looked up in a MANPATH made of man/ (verify
runs `man` on them).  Exits 77 (meson: skipped) only when systemd-analyze
is missing or cannot run here, and says why.
Usage: check_unit.py UNIT_FILE OUTPOSTD_BINARY SOURCE_DIR
"""
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

unit, binary, src = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
analyze = shutil.which("systemd-analyze")
if analyze is None:
    print("SKIP: systemd-analyze is not installed (scripts/deps.sh installs systemd)")
    sys.exit(77)
probe = subprocess.run([analyze, "--version"], capture_output=True, text=True)
if probe.returncode != 0:
    print("SKIP: systemd-analyze cannot run here:", probe.stderr.strip())
    sys.exit(77)

text = unit.read_text()
if "Type=notify" not in text or "ExecReload=" not in text:
    print("the unit must be Type=notify with an ExecReload")
    sys.exit(1)
with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    for page, section in (("outpostd.8", "8"), ("outpost.conf.5", "5"), ("outpost.1", "1")):
        (tmp / "man" / ("man" + section)).mkdir(parents=True, exist_ok=True)
        shutil.copy(src / "man" / page, tmp / "man" / ("man" + section) / page)
    copy = tmp / "outpostd.service"
    copy.write_text(re.sub(r"^ExecStart=\S+", "ExecStart=" + str(binary.resolve()), text, flags=re.M))
    r = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True,
                       env={"MANPATH": str(tmp / "man"), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    out = (r.stdout + r.stderr).strip()
    print("systemd-analyze verify:", out or "clean")
    sys.exit(0 if r.returncode == 0 and not out else 1)

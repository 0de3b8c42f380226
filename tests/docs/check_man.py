#!/usr/bin/env python3
"""The man pages cover the code: every config setting the parser accepts is
documented in man/outpost.conf.5 (as "Ic NAME"), every subcommand of
src/outpost.c in man/outpost.1 (as "Cm NAME"), and `mandoc -T lint` finds
nothing in the three pages.

The settings are read from the parser's own tables of known keys
(`static const char *const known[] = { "a", "b", NULL };` in any file under
src/, and rule_key_name[]), so a setting someone adds to the code without
documenting it fails this test; `man --warnings -l` must render each page
without a warning too.  Usage: check_man.py SOURCE_DIR
"""
import pathlib
import re
import shutil
import subprocess
import sys

src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
TABLE = re.compile(r'(?:known\w*|rule_key_name)\s*\[[^\]]*\]\s*=\s*\{(.*?)\};', re.S)


def config_keys():
    keys = set()
    for path in sorted((src / "src").rglob("*.c")):
        for table in TABLE.finditer(path.read_text(errors="replace")):
            keys.update(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', table.group(1)))
    return keys


def subcommands():
    text = (src / "src" / "outpost.c").read_text()
    return set(re.findall(r'\{\s*"([a-z][a-z-]*)",\s*cmd_\w+', text))


def documented(page, macro):
    text = (src / "man" / page).read_text()
    return set(re.findall(r'(?:^\.|\s)%s\s+([A-Za-z_][A-Za-z0-9_-]*)' % macro, text, re.M))


failed = False
keys, cmds = config_keys(), subcommands()
# a sanity floor, so a parser rewritten without these tables cannot pass empty
for must, found, what in ((("hostname", "spool", "listen", "routes", "via"), keys, "config keys"),
                          (("queue", "sendmail", "check-config"), cmds, "subcommands")):
    if not set(must) <= found:
        print("check_man: could not read the %s from the code (found %s)" % (what, sorted(found)))
        failed = True
missing = sorted(keys - documented("outpost.conf.5", "Ic"))
if missing:
    print("man/outpost.conf.5 does not document these settings:", " ".join(missing))
    failed = True
missing = sorted(cmds - documented("outpost.1", "Cm"))
if missing:
    print("man/outpost.1 does not document these subcommands:", " ".join(missing))
    failed = True
mandoc = shutil.which("mandoc")
if mandoc is None:
    print("check_man: mandoc is not installed (scripts/deps.sh installs it)")
    failed = True
else:
    # run in man/ so that the pages' references to each other resolve
    pages = ["outpost.1", "outpost.conf.5", "outpostd.8"]
    r = subprocess.run([mandoc, "-T", "lint"] + pages, capture_output=True, text=True, cwd=src / "man")
    if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
        print("mandoc -T lint:", r.stdout + r.stderr)
        failed = True
# and `man -l` (man-db and groff) renders each without a warning
man = shutil.which("man")
for page in ("outpost.1", "outpost.conf.5", "outpostd.8"):
    if man is None:
        break
    r = subprocess.run([man, "--warnings", "-l", str(src / "man" / page)], capture_output=True, text=True,
                       env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    if r.returncode != 0 or r.stderr.strip():
        print("man -l %s:" % page, r.stderr)
        failed = True
print("check_man: %d settings, %d subcommands: %s" % (len(keys), len(cmds), "FAIL" if failed else "ok"))
sys.exit(1 if failed else 0)

"""The DNS world of tests/integration/test_doctor.py (a dnslib server with
every record the doctor asks about, blocklist zones included, and an
aiosmtpd MX with STARTTLS on 127.0.0.2), kept running for bench/doctor.sh.
Prints the config file's path on its first line, then runs until stdin
closes."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from test_doctor import make_world  # noqa: E402

world, stop = make_world(Path(sys.argv[1]))
print(world["conf"], flush=True)
sys.stdin.read()
stop()

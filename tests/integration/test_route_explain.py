"""`outpost route explain`: which rule routes a recipient and why, with the
recipient domain's MX hosts served by a dnslib DNS server on loopback.  The
config has a rule for every match key; each case checks the rule that
decides, why the earlier rules did not, the route order and the exit status."""
import json

import pytest

from peers import DNS

ROUTES = """routes = {
  direct = { type = "mx"; source = "127.0.0.1"; helo = "out.example.com"; };
  ses = { type = "relay"; host = "ses.example.net:587"; };
  google_relay = { type = "relay"; host = "relay.example.net:2525"; tls = "none"; };
};"""

# one rule per line, from line 6 of the config on (see line_of)
RULES = [
    '{ sender = [ "*@news.example.com", "*@list.example.com" ]; via = [ "ses", "direct" ]; }',
    '{ sender_domain = "*.shop.example.com"; via = "ses"; }',
    '{ from_domain = "brand.example.com"; via = "google_relay"; }',
    '{ user = "tenant1"; class = "bulk"; via = [ "google_relay", "ses" ]; }',
    '{ recipient_domain = [ "*.example.edu" ]; via = "ses"; }',
    '{ mx = [ "*.google.example.net", "*.googlemail.example.net" ]; via = [ "google_relay", "direct" ]; }',
    '{ mx = "*.example.org"; via = "direct"; }',
]
CATCH_ALL = '{ sender = "<>"; via = "direct"; }, { via = [ "direct", "ses" ]; }'


@pytest.fixture
def dns():
    d = DNS().start()
    z = d.zone
    z.add("gmail.example.com", "MX", (10, "alt1.aspmx.l.GOOGLE.example.net"))
    z.add("gmail.example.com", "MX", (5, "aspmx.l.google.example.net"))
    z.add("plain.example.org", "A", "192.0.2.7")             # no MX: the domain is its own MX
    z.add("other.example.com", "MX", (10, "mx.other.example.com"))
    z.add("broken.example.com", "MX", "SERVFAIL")
    z.add("nomail.example.com", "MX", (0, "."))
    yield d
    d.stop()


def config(make_daemon, dns, rules, resolver=None):
    d = make_daemon(['resolver = "%s";' % (resolver or dns.spec), ROUTES,
                     "rules = ( %s );" % ",\n".join(rules),
                     'delivery = { dns_timeout = "5s"; };'], start=False)
    return d


def line_of(d, rule_text):
    """The config line a rule stands on."""
    for n, line in enumerate(d.conf.read_text().splitlines(), 1):
        if rule_text in line:
            return n
    raise AssertionError("rule not in config: " + rule_text)


def explain(d, *args):
    return d.cli("route", "explain", *args, check=False)


@pytest.fixture
def full(make_daemon, dns):
    return config(make_daemon, dns, RULES + [CATCH_ALL])


def test_sender_glob_decides_and_the_route_order_is_shown(full):
    r = explain(full, "--sender", "Bob@NEWS.example.com", "--rcpt", "x@other.example.com")
    assert r.returncode == 0, r.stderr
    first = line_of(full, RULES[0])
    assert "rule 1 (line %d): matches" % first in r.stdout
    assert "rule 2" not in r.stdout
    assert ("rule 1 (line %d) routes it via, in failover order:\n"
            "  1. ses: relay ses.example.net:587 tls=required\n"
            "  2. direct: mx port 25 tls=opportunistic source 127.0.0.1 (helo out.example.com, weight 1)\n"
            % first) in r.stdout


def test_mx_hosts_are_resolved_and_matched(full):
    r = explain(full, "--sender", "a@example.com", "--rcpt", "someone@gmail.example.com")
    assert r.returncode == 0, r.stderr
    # in preference order (dnslib's name compression may change the case)
    assert 'mx hosts "aspmx.l.google.example.net", "alt1.aspmx.l.google.example.net"' in r.stdout.lower()
    assert ('rule 1 (line %d): sender: "a@example.com" matches none of "*@news.example.com", '
            '"*@list.example.com"' % line_of(full, RULES[0])) in r.stdout
    assert "rule 2 (line %d): sender_domain: \"example.com\" matches none of" % line_of(full, RULES[1]) in r.stdout
    assert "rule 3 (line %d): from_domain: the message has no From: domain" % line_of(full, RULES[2]) in r.stdout
    assert "rule 4 (line %d): user: the message was not sent by an authenticated user" % line_of(
        full, RULES[3]) in r.stdout
    assert "rule 6 (line %d): matches" % line_of(full, RULES[5]) in r.stdout
    assert "  1. google_relay: relay relay.example.net:2525 tls=none\n  2. direct:" in r.stdout


def test_domain_without_mx_is_its_own_mx_host(full):
    r = explain(full, "--sender", "a@example.com", "--rcpt", "x@plain.example.org")
    assert r.returncode == 0, r.stderr
    assert "mx: no MX records: the domain itself is its MX host" in r.stdout
    assert 'rule 6 (line %d): mx: MX hosts "plain.example.org" match none of' % line_of(full, RULES[5]) in r.stdout
    assert "rule 7 (line %d): matches" % line_of(full, RULES[6]) in r.stdout


def test_null_mx_and_nxdomain_match_no_mx_glob(full):
    for rcpt, note in (("x@nomail.example.com", "null MX"), ("x@missing.example.com", "NXDOMAIN")):
        r = explain(full, "--sender", "", "--rcpt", rcpt)
        assert r.returncode == 0, r.stderr
        assert note in r.stdout
        assert "mx: the recipient domain has no MX host" in r.stdout
        assert 'rule 8 (line %d): matches' % line_of(full, CATCH_ALL) in r.stdout  # sender "<>"


def test_from_header_user_and_class(full):
    r = explain(full, "--sender", "a@example.com", "--rcpt", "x@other.example.com",
                "--from-header", '"Brand, Inc." <News@Brand.Example.COM>')
    assert r.returncode == 0, r.stderr
    assert 'from_domain "brand.example.com"' in r.stdout
    assert "rule 3 (line %d): matches" % line_of(full, RULES[2]) in r.stdout
    r = explain(full, "--sender", "a@example.com", "--rcpt", "x@other.example.com",
                "--user", "tenant1", "--class", "transactional")
    assert 'rule 4 (line %d): class: "transactional" matches none of "bulk"' % line_of(full, RULES[3]) in r.stdout
    r = explain(full, "--sender", "a@example.com", "--rcpt", "x@other.example.com",
                "--user", "tenant1", "--class", "bulk")
    assert "rule 4 (line %d): matches" % line_of(full, RULES[3]) in r.stdout
    r = explain(full, "--sender", "a@example.com", "--rcpt", "x@other.example.com",
                "--from-header", "no address here")
    assert r.returncode == 2
    assert "--from-header: no address with a domain" in r.stderr


def test_json_answer(full):
    r = explain(full, "--sender", "a@x.shop.example.com", "--rcpt", "x@gmail.example.com", "--json")
    assert r.returncode == 0, r.stderr
    o = json.loads(r.stdout)
    assert [h.lower() for h in o["query"]["mx"]] == ["aspmx.l.google.example.net", "alt1.aspmx.l.google.example.net"]
    assert o["query"]["from_domain"] is None
    assert [x["result"] for x in o["rules"]] == ["no match", "match"]
    assert o["match"] == {"rule": 2, "line": line_of(full, RULES[1])}
    assert [v["name"] for v in o["via"]] == ["ses"]
    assert o["via"][0]["host"] == "ses.example.net" and o["via"][0]["port"] == "587"


def test_no_rule_matches_exits_1(make_daemon, dns):
    d = config(make_daemon, dns, RULES)
    r = explain(d, "--sender", "a@example.com", "--rcpt", "x@other.example.com")
    assert r.returncode == 1
    assert 'rule 7 (line %d): mx: MX hosts "mx.other.example.com" match none of "*.example.org"' % line_of(
        d, RULES[6]) in r.stdout
    assert "no rule matches" in r.stdout
    r = explain(d, "--sender", "a@example.com", "--rcpt", "x@other.example.com", "--json")
    assert r.returncode == 1
    assert json.loads(r.stdout)["match"] is None


def test_failed_mx_lookup_leaves_an_mx_rule_undecided(full):
    r = explain(full, "--sender", "a@example.com", "--rcpt", "x@broken.example.com")
    assert r.returncode == 1
    assert "mx: the MX lookup failed" in r.stdout
    assert "undecided: rule 6 needs the MX hosts" in r.stdout
    # a rule before the mx rules still decides without them
    r = explain(full, "--sender", "a@news.example.com", "--rcpt", "x@broken.example.com")
    assert r.returncode == 0


def test_resolver_option_overrides_the_config(make_daemon, dns):
    d = config(make_daemon, dns, RULES + [CATCH_ALL], resolver="127.0.0.1@9")  # nobody answers there
    r = explain(d, "--sender", "a@example.com", "--rcpt", "x@gmail.example.com", "--resolver", dns.spec)
    assert r.returncode == 0, r.stderr
    assert "rule 6 (line %d): matches" % line_of(d, RULES[5]) in r.stdout


def test_without_mx_rules_nothing_is_looked_up(make_daemon, dns):
    d = config(make_daemon, dns, RULES[:5] + [CATCH_ALL])
    r = explain(d, "--sender", "a@example.com", "--rcpt", "x@broken.example.com")
    assert r.returncode == 0, r.stderr
    assert "MX hosts not resolved" in r.stdout
    assert "mx:" not in r.stdout


def test_usage_and_config_errors(make_daemon, dns, full):
    assert explain(full, "--sender", "a@example.com").returncode == 2
    r = explain(full, "--sender", "a@example.com", "--rcpt", "nodomain")
    assert r.returncode == 2 and "--rcpt: not an address" in r.stderr
    d = config(make_daemon, dns, ['{ via = "direct"; }', '{ sender = "*@x.example.com"; via = "ses"; }'])
    r = explain(d, "--sender", "a@example.com", "--rcpt", "x@other.example.com")
    assert r.returncode == 2
    second = line_of(d, '{ sender = "*@x.example.com"')
    assert ("%s:%d: rule at line %d is never reached: the rule at line %d matches everything"
            % (d.conf, second, second, second - 1)) in r.stderr

/*
 * test_throttle: limits, warm-up and back-off on simulated time (days in
 * microseconds): rates spread evenly and capped per window, connection
 * and per-connection caps, warm-up growth per day and provider, back-off
 * halving and stepwise recovery, reload keeping counters, idle instances
 * dropped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "delivery/throttle.h"

#define T0 1793491200.0      /* 2026-11-01 00:00:00 UTC */
#define DAY 86400.0
#define fabs(x) ((x) < 0 ? -(x) : (x))   /* no libm needed */

static struct config *conf(const char *text)
{
	char err[512];
	struct config *cf = config_parse(text, "test.conf", err, sizeof(err));
	if (cf == NULL)
		fail_msg("%s", err);
	return cf;
}

static const char routes[] =
	"routes = { direct = { type = \"mx\"; source = [ \"192.0.2.1\", \"192.0.2.2\" ]; };\n"
	"           relay = { type = \"relay\"; host = \"smtp.example.net:587\"; }; };\n"
	"rules = ( { via = [ \"direct\", \"relay\" ]; } );\n";

static struct config *conf_with(const char *more)
{
	char text[4096];
	snprintf(text, sizeof(text), "%s%s", routes, more);
	return conf(text);
}

/* Sends as fast as the throttle allows from start until end; returns how
 * many went, their times in at[] (up to nat). */
static unsigned run(struct throttle *t, const struct throttle_key *k, double start, double end,
		    double *at, unsigned nat)
{
	unsigned n = 0;
	for (double now = start; now < end;) {
		double w = throttle_message(t, k, 0, now);
		assert_true(w >= 0);
		if (w > 0) {
			now += w;
			continue;
		}
		if (n < nat)
			at[n] = now;
		n++;
	}
	return n;
}

static unsigned lines_with(const struct throttle *t, const char *word, double now)
{
	struct buf b = BUF_INIT;
	unsigned n = 0;
	throttle_describe(t, &b, now);
	for (const char *p = b.data; p && (p = strstr(p, word)) != NULL; p++)
		n++;
	buf_free(&b);
	return n;
}

static void rate_is_spread_evenly_and_capped_per_window(void **st)
{
	(void)st;
	struct config *cf = conf_with("limits = ( { domain = \"example.org\"; rate = \"600/min\"; } );\n");
	struct throttle *t = throttle_new(cf);
	struct throttle_key k = { "direct", "192.0.2.1", "example.org", NULL };
	static double at[2000];
	unsigned n = run(t, &k, T0, T0 + 180, at, 2000);
	/* 600/min for three minutes, within one message of the configured rate */
	assert_true(n >= 1799 && n <= 1801);
	/* one every 100 ms (a burst of two at most where a late send is made
	 * up for), not 600 at once and then a minute of waiting */
	unsigned even = 0, first_second = 0;
	for (unsigned i = 1; i < n; i++) {
		double g = at[i] - at[i - 1];
		assert_true(g >= 0 && g < 0.2 + 0.002);   /* a bucket edge, in floating point */
		even += fabs(g - 0.1) < 1e-6;
		first_second += at[i] < T0 + 1;
	}
	assert_true(even >= n * 99 / 100);
	assert_true(first_second <= 11);
	/* at most 600 in any minute */
	for (unsigned i = 0, j = 0; i < n; i++) {
		while (at[i] - at[j] >= 60)
			j++;
		assert_true(i - j + 1 <= 600);
	}
	throttle_free(t);
	config_free(cf);
}

static void unlimited_key_never_waits(void **st)
{
	(void)st;
	struct config *cf = conf_with("limits = ( { domain = \"example.org\"; rate = \"1/min\"; } );\n");
	struct throttle *t = throttle_new(cf);
	struct throttle_key other = { "direct", NULL, "example.com", NULL };
	for (int i = 0; i < 1000; i++)
		assert_true(throttle_message(t, &other, (unsigned)i, T0) == 0);
	throttle_free(t);
	config_free(cf);
}

static void day_cap_holds_beside_a_minute_rate(void **st)
{
	(void)st;
	struct config *cf = conf_with("limits = ( { mx = \"*.google.com\"; rate = [ \"600/min\", \"1000/day\" ]; } );\n");
	struct throttle *t = throttle_new(cf);
	struct throttle_key k = { "direct", "192.0.2.1", "gmail.com", "gmail-smtp-in.l.google.com" };
	struct throttle_key k2 = { "direct", "192.0.2.2", "example.com", "aspmx.l.google.com." };
	static double at[2000];
	/* the first 1000 flow at 10/s (about 100 s), then nothing for the rest of the day */
	unsigned n = run(t, &k, T0, T0 + 200, at, 2000);
	assert_int_equal(n, 1000);
	assert_true(at[999] - at[0] < 101);
	/* the mx entry is shared by every host it matches */
	double w = throttle_message(t, &k2, 0, T0 + 200);
	assert_true(w > DAY - 200 - DAY / 60 && w <= DAY);
	/* a day later the cap frees up again */
	assert_true(throttle_message(t, &k, 0, T0 + DAY + 1) == 0);
	/* without an mx host the entry does not apply */
	struct throttle_key nomx = { "direct", "192.0.2.1", "gmail.com", NULL };
	assert_true(throttle_message(t, &nomx, 0, T0 + 300) == 0);
	throttle_free(t);
	config_free(cf);
}

/* Issue 19: a provider entry counts by the provider of the MX host (a
 * Google-hosted domain is gmail), each provider it names on its own; a
 * relay route has no provider. */
static void provider_limit_counts_by_mx_provider(void **st)
{
	(void)st;
	struct config *cf = conf_with("limits = ( { provider = [ \"google\", \"outlook\" ]; rate = [ \"100/s\", \"3/h\" ]; } );\n");
	struct throttle *t = throttle_new(cf);
	struct throttle_key a = { "direct", "192.0.2.1", "hosted.example", "aspmx.l.google.com" };
	struct throttle_key b = { "direct", "192.0.2.2", "gmail.com", "gmail-smtp-in.l.google.com." };
	struct throttle_key ms = { "direct", "192.0.2.1", "contoso.example", "contoso-example.mail.protection.outlook.com" };
	struct throttle_key other = { "direct", "192.0.2.1", "example.org", "mx.example.org" };
	struct throttle_key relay = { "relay", NULL, "gmail.com", NULL };
	assert_true(throttle_message(t, &a, 0, T0) == 0);
	assert_true(throttle_message(t, &b, 0, T0 + 0.01) == 0);
	assert_true(throttle_message(t, &a, 0, T0 + 0.02) == 0);
	double w = throttle_message(t, &b, 0, T0 + 0.03);     /* gmail's 3 this hour are gone */
	assert_true(w > 3500 && w <= 3600);
	assert_int_equal(run(t, &ms, T0, T0 + 10, NULL, 0), 3);   /* outlook: its own 3 */
	for (int i = 0; i < 50; i++) {   /* another provider, and a relay route: no limit */
		assert_true(throttle_message(t, &other, 0, T0) == 0);
		assert_true(throttle_message(t, &relay, 0, T0) == 0);
	}
	assert_int_equal(lines_with(t, "limit provider=gmail,outlook value=gmail sent_s=0/100 sent_h=3/3", T0 + 5), 1);
	assert_int_equal(lines_with(t, "limit provider=gmail,outlook value=outlook", T0 + 5), 1);
	throttle_free(t);
	config_free(cf);
}

/* Reserve, then release on failure: a message counted when committed to a
 * connection and not taken by the receiver gives its rate slot and its
 * warm-up share back; one counted in a window that has passed gives
 * nothing back to the next. */
static void release_gives_back_rate_and_warmup(void **st)
{
	(void)st;
	struct config *cf = conf(
		"routes = { direct = { type = \"mx\"; source = \"192.0.2.1\";\n"
		"  warmup = { start = 2; growth = 2.0; per = \"day\"; begin = \"2026-11-01\"; }; }; };\n"
		"rules = ( { via = [ \"direct\" ]; } );\n"
		"limits = ( { provider = \"gmail\"; rate = [ \"100/s\", \"3/h\" ]; } );\n");
	struct throttle *t = throttle_new(cf);
	struct throttle_key k = { "direct", "192.0.2.1", "hosted.example", "aspmx.l.google.com" };
	assert_true(throttle_message(t, &k, 0, T0) == 0);
	assert_true(throttle_message(t, &k, 0, T0 + 0.01) == 0);
	assert_true(throttle_warmup_full(t, &k, T0 + 0.02) > 0);     /* 2 of 2 */
	throttle_release(t, &k, T0 + 0.01, T0 + 0.5);                 /* the second was refused */
	assert_true(throttle_warmup_full(t, &k, T0 + 0.5) == 0);
	assert_int_equal(lines_with(t, "value=gmail sent_s=1/100 sent_h=1/3", T0 + 0.5), 1);
	/* three slots again this hour, not two */
	assert_true(throttle_message(t, &k, 0, T0 + 1) == 0);
	assert_true(throttle_message(t, &k, 0, T0 + 1.01) == 0);
	assert_true(throttle_message(t, &k, 0, T0 + 1.02) > 3000);
	throttle_release(t, &k, T0 + 1, T0 + 2);
	throttle_release(t, &k, T0 + 1.01, T0 + 2);
	assert_int_equal(lines_with(t, "value=gmail sent_s=0/100 sent_h=1/3", T0 + 2.5), 1);
	/* a send counted an hour ago has left the window: nothing to give back */
	assert_true(throttle_message(t, &k, 0, T0 + 1800) == 0);
	assert_true(throttle_message(t, &k, 0, T0 + 1800.01) == 0);
	assert_true(throttle_message(t, &k, 0, T0 + 3600 + 60) == 0);  /* T0's slot left the window */
	throttle_release(t, &k, T0, T0 + 3600 + 61);
	assert_int_equal(lines_with(t, "value=gmail sent_s=0/100 sent_h=3/3", T0 + 3600 + 62), 1);
	/* a warm-up share of yesterday is not given back to today */
	assert_true(throttle_message(t, &k, 0, T0 + DAY + 1) == 0);
	throttle_release(t, &k, T0 + 1800.01, T0 + DAY + 2);
	assert_int_equal(lines_with(t, "warmup route=direct source=192.0.2.1 provider=gmail period=1 sent=1/4",
				   T0 + DAY + 2), 1);
	throttle_free(t);
	config_free(cf);
}

static void connection_caps(void **st)
{
	(void)st;
	struct config *cf = conf_with(
		"limits = ( { domain = [ \"*.example.org\", \"example.org\" ]; connections = 2; },\n"
		"           { mx = \"*.google.com\"; connections = 1; },\n"
		"           { source = \"192.0.2.*\"; connections = 3; } );\n");
	struct throttle *t = throttle_new(cf);
	struct throttle_key a = { "direct", "192.0.2.1", "example.org", NULL };
	struct throttle_key b = { "direct", "192.0.2.1", "sub.EXAMPLE.org", NULL };
	assert_int_equal(throttle_conn_open(t, &a, T0), 1);
	assert_int_equal(throttle_conn_open(t, &a, T0), 1);
	assert_int_equal(throttle_conn_open(t, &a, T0), 0);     /* example.org's 2 are open */
	assert_int_equal(throttle_conn_open(t, &b, T0), 1);     /* another value, its own 2 */
	assert_int_equal(throttle_conn_open(t, &b, T0), 0);     /* source 192.0.2.1's 3 are open */
	throttle_conn_close(t, &a);
	assert_int_equal(throttle_conn_open(t, &b, T0), 1);
	/* the mx entry: one connection for all of Google */
	struct throttle_key g1 = { "direct", "192.0.2.2", "gmail.com", "alt1.gmail-smtp-in.l.google.com" };
	struct throttle_key g2 = { "direct", "192.0.2.2", "example.net", "aspmx.l.google.com" };
	assert_int_equal(throttle_conn_open(t, &g1, T0), 1);
	assert_int_equal(throttle_conn_open(t, &g2, T0), 0);
	throttle_conn_close(t, &g1);
	assert_int_equal(throttle_conn_open(t, &g2, T0), 1);
	/* closing more than was opened does not go below zero */
	throttle_conn_close(t, &g2);
	throttle_conn_close(t, &g2);
	assert_int_equal(throttle_conn_open(t, &g1, T0), 1);
	assert_int_equal(throttle_conn_open(t, &g1, T0), 0);
	throttle_free(t);
	config_free(cf);
}

static void messages_per_connection(void **st)
{
	(void)st;
	struct config *cf = conf_with("limits = ( { route = \"direct\"; messages_per_connection = 3; } );\n");
	struct throttle *t = throttle_new(cf);
	struct throttle_key k = { "direct", NULL, "example.org", NULL };
	struct throttle_key r = { "relay", NULL, NULL, NULL };
	assert_true(throttle_message(t, &k, 0, T0) == 0);
	assert_true(throttle_message(t, &k, 2, T0) == 0);
	assert_true(throttle_message(t, &k, 3, T0) == -1);
	assert_true(throttle_message(t, &r, 3, T0) == 0);       /* another route */
	throttle_free(t);
	config_free(cf);
}

static void warmup_grows_per_day_and_provider(void **st)
{
	(void)st;
	struct config *cf = conf(
		"routes = { direct = { type = \"mx\"; source = \"192.0.2.1\";\n"
		"  warmup = { start = 10; growth = 2.0; per = \"day\"; begin = \"2026-11-01\"; max = 50; }; }; };\n"
		"rules = ( { via = [ \"direct\" ]; } );\n");
	struct throttle *t = throttle_new(cf);
	struct throttle_key gm = { "direct", "192.0.2.1", "gmail.com", NULL };
	struct throttle_key gmx = { "direct", "192.0.2.1", "example.com", "aspmx.l.google.com" };
	struct throttle_key ya = { "direct", "192.0.2.1", "yahoo.com", "mta5.am0.yahoodns.net" };
	unsigned caps[] = { 10, 20, 40 };
	for (int d = 0; d < 3; d++) {
		double now = T0 + d * DAY + DAY / 2;
		unsigned sent = 0;
		/* a domain hosted by Google counts with gmail.com */
		while (throttle_warmup_full(t, sent % 2 ? &gm : &gmx, now) == 0 && sent < 1000) {
			assert_true(throttle_message(t, sent % 2 ? &gm : &gmx, 0, now) == 0);
			sent++;
		}
		assert_int_equal(sent, caps[d]);
		/* full until the next day begins: spill meanwhile */
		assert_true(fabs(throttle_warmup_full(t, &gm, now) - DAY / 2) < 1e-6);
		/* Yahoo's cap is its own */
		assert_true(throttle_warmup_full(t, &ya, now) == 0);
	}
	assert_int_equal(lines_with(t, "warmup route=direct source=192.0.2.1 provider=gmail period=2 sent=40/40", T0 + 2.5 * DAY), 1);
	/* day 3: 80 is past max = 50: warmed up, no cap */
	for (int i = 0; i < 200; i++)
		assert_true(throttle_message(t, &gm, 0, T0 + 3.5 * DAY) == 0);
	assert_true(throttle_warmup_full(t, &gm, T0 + 3.5 * DAY) == 0);
	/* before begin: day 0's cap */
	for (int i = 0; i < 10; i++)
		assert_true(throttle_message(t, &ya, 0, T0 - DAY) == 0);
	assert_true(throttle_warmup_full(t, &ya, T0 - DAY) > 0);
	/* a route without warm-up is never full */
	struct throttle_key none = { "nope", NULL, "gmail.com", NULL };
	assert_true(throttle_warmup_full(t, &none, T0) == 0);
	throttle_free(t);
	config_free(cf);
}

static void warmup_without_begin_starts_at_first_use(void **st)
{
	(void)st;
	struct config *cf = conf(
		"routes = { direct = { type = \"mx\";\n"
		"  warmup = { start = 5; growth = 1.5; per = \"hour\"; }; }; };\n"
		"rules = ( { via = [ \"direct\" ]; } );\n");
	struct throttle *t = throttle_new(cf);
	struct throttle_key k = { "direct", NULL, "example.org", "mx.example.org" };
	double start = T0 + 1234;
	unsigned sent = 0;
	while (throttle_warmup_full(t, &k, start) == 0 && sent < 100) {
		assert_true(throttle_message(t, &k, 0, start) == 0);
		sent++;
	}
	assert_int_equal(sent, 5);
	assert_true(fabs(throttle_warmup_full(t, &k, start) - 3600) < 1e-6);
	/* hour 2: floor(5 * 1.5^2) = 11 */
	sent = 0;
	while (throttle_warmup_full(t, &k, start + 7300) == 0 && sent < 100) {
		assert_true(throttle_message(t, &k, 0, start + 7300) == 0);
		sent++;
	}
	assert_int_equal(sent, 11);
	throttle_free(t);
	config_free(cf);
}

/* The spacing the back-off allows now: the gap between two sends. */
static double gap(struct throttle *t, const struct throttle_key *k, double *now)
{
	double first = -1;
	for (;;) {
		double w = throttle_message(t, k, 0, *now);
		if (w > 0) {
			*now += w;
			continue;
		}
		if (first >= 0)
			return *now - first;
		first = *now;
		/* past any burst: send until two sends are apart */
		double w2 = throttle_message(t, k, 0, *now);
		if (w2 == 0)
			first = -1;
	}
}

static void backoff_halves_then_recovers_stepwise(void **st)
{
	(void)st;
	struct config *cf = conf_with(
		"limits = ( { domain = \"example.org\"; rate = \"600/min\"; } );\n"
		"delivery = { backoff = { cooldown = \"10m\"; floor = \"6/min\"; }; };\n");
	struct throttle *t = throttle_new(cf);
	struct throttle_key k = { "direct", "192.0.2.1", "example.org", "mx.example.org" };
	double now = T0;
	assert_true(fabs(gap(t, &k, &now) - 0.1) < 1e-6);
	/* a recipient-level reply changes nothing */
	throttle_note_reply(t, &k, 550, "5.1.1", "5.1.1 User unknown", now);
	assert_true(fabs(gap(t, &k, &now) - 0.1) < 1e-6);
	/* Gmail's 421 4.7.0: 10/s -> 5/s */
	throttle_note_reply(t, &k, 421, "4.7.0", "4.7.0 Try again later, closing connection.", now);
	/* more replies to mail sent before the cut do not cut again */
	throttle_note_reply(t, &k, 421, "4.7.0", "4.7.0 Try again later", now);
	assert_true(throttle_message(t, &k, 0, now) > 0);        /* not at once */
	assert_true(fabs(gap(t, &k, &now) - 0.2) < 1e-6);
	assert_int_equal(lines_with(t, "backoff route=direct source=192.0.2.1 provider=example.org rate=5/s", now), 1);
	/* a throttle after sending at the new rate cuts again: 2.5/s */
	throttle_note_reply(t, &k, 421, "4.7.28", "4.7.28 unusual rate of unsolicited mail", now);
	double cut = now;
	assert_true(fabs(gap(t, &k, &now) - 0.4) < 1e-6);
	/* recovery: x1.5 per cool-down: 3.75/s, 5.625/s, 8.4375/s, then the configured 10/s */
	double expect[] = { 1 / 3.75, 1 / 5.625, 1 / 8.4375, 0.1 };
	for (int i = 0; i < 4; i++) {
		now = cut + 600 * (i + 1) + 1;
		double g = gap(t, &k, &now);
		if (fabs(g - expect[i]) > 1e-6)
			fail_msg("step %d: gap %f, want %f", i, g, expect[i]);
	}
	assert_int_equal(lines_with(t, "backoff", now), 0);
	throttle_free(t);
	config_free(cf);
}

static void backoff_has_a_floor_and_uses_the_observed_rate(void **st)
{
	(void)st;
	struct config *cf = conf_with("");                       /* no limits: observed rate */
	struct throttle *t = throttle_new(cf);
	struct throttle_key k = { "direct", "192.0.2.1", "yahoo.com", "mta6.am0.yahoodns.net" };
	struct throttle_key other = { "direct", "192.0.2.2", "yahoo.com", "mta6.am0.yahoodns.net" };
	double now = T0;
	for (int i = 0; i < 120; i++, now += 0.5)                 /* 2/s for a minute */
		assert_true(throttle_message(t, &k, 0, now) == 0);
	throttle_note_reply(t, &k, 421, "4.7.0", "4.7.0 [TS01] Messages from 192.0.2.1 temporarily deferred", now);
	double g = gap(t, &k, &now);                              /* half of about 2/s */
	assert_true(g > 0.95 && g < 1.05);
	/* another source IP to the same provider is not cut */
	assert_true(throttle_message(t, &other, 0, now) == 0);
	assert_true(throttle_message(t, &other, 0, now) == 0);
	assert_true(throttle_message(t, &other, 0, now) == 0);
	/* repeated throttling stops at the default floor, 1/min */
	for (int i = 0; i < 20; i++) {
		throttle_message(t, &k, 0, now + 1000);          /* one sent after the cut */
		now += 1000;
		throttle_note_reply(t, &k, 451, "4.7.1", "4.7.1 Rate limited", now);
	}
	assert_true(fabs(gap(t, &k, &now) - 60) < 1e-6);
	assert_int_equal(lines_with(t, "rate=1/min", now), 1);
	throttle_free(t);
	config_free(cf);
}

static void relay_backoff_is_for_the_route_as_a_whole(void **st)
{
	(void)st;
	struct config *cf = conf_with("limits = ( { route = \"relay\"; rate = \"60/s\"; } );\n");
	struct throttle *t = throttle_new(cf);
	struct throttle_key a = { "relay", NULL, "gmail.com", NULL };
	struct throttle_key b = { "relay", NULL, "example.org", NULL };
	double now = T0;
	throttle_note_reply(t, &a, 454, "4.0.0", "Throttling failure: Maximum sending rate exceeded.", now);
	assert_int_equal(lines_with(t, "backoff route=relay source=- provider=* rate=30/s", now), 1);
	assert_true(fabs(gap(t, &b, &now) - 1.0 / 30) < 1e-6);
	throttle_free(t);
	config_free(cf);
}

static void reload_keeps_counters(void **st)
{
	(void)st;
	struct config *cf = conf_with(
		"limits = ( { domain = \"example.org\"; connections = 2; rate = [ \"100/s\", \"10/day\" ]; } );\n");
	struct throttle *t = throttle_new(cf);
	struct throttle_key k = { "direct", "192.0.2.1", "example.org", NULL };
	assert_int_equal(throttle_conn_open(t, &k, T0), 1);
	assert_int_equal(throttle_conn_open(t, &k, T0), 1);
	assert_int_equal(run(t, &k, T0, T0 + 3600, NULL, 0), 10);
	/* the same entry with other numbers, at another line */
	struct config *cf2 = conf_with(
		"\n\nlimits = ( { domain = \"example.org\"; connections = 3; rate = [ \"100/s\", \"12/day\" ]; } );\n");
	throttle_reload(t, cf2);
	config_free(cf);
	assert_int_equal(throttle_conn_open(t, &k, T0 + 3600), 1);
	assert_int_equal(throttle_conn_open(t, &k, T0 + 3600), 0);
	assert_int_equal(run(t, &k, T0 + 3600, T0 + 7200, NULL, 0), 2);
	/* an entry that selects something else starts from zero */
	struct config *cf3 = conf_with(
		"limits = ( { domain = [ \"example.org\", \"example.com\" ]; rate = [ \"100/s\", \"10/day\" ]; } );\n");
	throttle_reload(t, cf3);
	config_free(cf2);
	assert_int_equal(run(t, &k, T0 + 7200, T0 + 10800, NULL, 0), 10);
	assert_int_equal(lines_with(t, "(no longer configured)", T0 + 10800), 1);
	throttle_free(t);
	config_free(cf3);
}

static void idle_instances_are_dropped(void **st)
{
	(void)st;
	struct config *cf = conf_with("limits = ( { domain = \"*\"; connections = 5; rate = \"100/h\"; } );\n");
	struct throttle *t = throttle_new(cf);
	char dom[64];
	for (int i = 0; i < 5000; i++) {
		snprintf(dom, sizeof(dom), "d%d.example.org", i);
		struct throttle_key k = { "direct", NULL, dom, NULL };
		assert_int_equal(throttle_conn_open(t, &k, T0), 1);
		assert_true(throttle_message(t, &k, 0, T0) == 0);
		if (i > 0)
			throttle_conn_close(t, &k);
	}
	assert_int_equal(lines_with(t, "limit domain=*", T0), 5000);
	/* two hours later only the one still connected is left */
	struct throttle_key k = { "direct", NULL, "x.example.org", NULL };
	throttle_message(t, &k, 0, T0 + 7200);
	assert_int_equal(lines_with(t, "limit domain=*", T0 + 7200), 2);
	assert_int_equal(lines_with(t, "value=d0.example.org connections=1/5", T0 + 7200), 1);
	throttle_free(t);
	config_free(cf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rate_is_spread_evenly_and_capped_per_window),
		cmocka_unit_test(unlimited_key_never_waits),
		cmocka_unit_test(day_cap_holds_beside_a_minute_rate),
		cmocka_unit_test(provider_limit_counts_by_mx_provider),
		cmocka_unit_test(release_gives_back_rate_and_warmup),
		cmocka_unit_test(connection_caps),
		cmocka_unit_test(messages_per_connection),
		cmocka_unit_test(warmup_grows_per_day_and_provider),
		cmocka_unit_test(warmup_without_begin_starts_at_first_use),
		cmocka_unit_test(backoff_halves_then_recovers_stepwise),
		cmocka_unit_test(backoff_has_a_floor_and_uses_the_observed_rate),
		cmocka_unit_test(relay_backoff_is_for_the_route_as_a_whole),
		cmocka_unit_test(reload_keeps_counters),
		cmocka_unit_test(idle_instances_are_dropped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

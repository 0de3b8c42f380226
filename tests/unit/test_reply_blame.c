/*
 * test_reply_blame: replies real receivers send (quoted from their error
 * references or from bounces seen in the wild, source named at each), and
 * whom each blames; every pattern of reply_patterns.def is well formed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "delivery/reply.h"
#include "delivery/reply_blame.h"

/* As the scheduler sees a reply: classified first (enhanced code split off). */
static void expect(int code, const char *text, enum blame want)
{
	struct reply_info ri;
	const char *where;
	reply_classify(code, text, &ri);
	enum blame got = reply_blame_info(&ri, &where);
	if (got != want)
		fail_msg("\"%d %s\": %s (%s), want %s", code, text, blame_name(got), where, blame_name(want));
}

/* As smtp_client reports a failure without a reply. */
static void expect_local(const char *enh, const char *text, enum blame want)
{
	struct reply_info ri;
	reply_local(enh, text, &ri);
	enum blame got = reply_blame_info(&ri, NULL);
	if (got != want)
		fail_msg("local \"%s %s\": %s, want %s", enh, text, blame_name(got), blame_name(want));
}

static void recipient_replies_never_blame_the_path(void **st)
{
	(void)st;
	/* Gmail (support.google.com/a/answer/3726730) */
	expect(550, "5.1.1 The email account that you tried to reach does not exist. Please try "
		    "double-checking the recipient's email address for typos", BLAME_RECIPIENT);
	expect(452, "4.2.2 The email account that you tried to reach is over quota.", BLAME_RECIPIENT);
	expect(550, "5.2.1 The email account that you tried to reach is disabled.", BLAME_RECIPIENT);
	/* Postfix local_recipient_maps */
	expect(550, "5.1.1 <bob@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
	       BLAME_RECIPIENT);
	/* Exchange Online */
	expect(550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
	       BLAME_RECIPIENT);
	expect(552, "5.2.2 Mailbox full", BLAME_RECIPIENT);
	/* our own scheduler's verdicts on DNS */
	expect(556, "5.1.10 Recipient domain accepts no mail (null MX)", BLAME_RECIPIENT);
	expect(550, "5.1.2 Recipient domain does not exist (NXDOMAIN)", BLAME_RECIPIENT);
	/* without enhanced codes: sendmail, qmail, Yahoo */
	expect(550, "<bob@example.org>... User unknown", BLAME_RECIPIENT);
	expect(550, "No such user here", BLAME_RECIPIENT);
	expect(554, "delivery error: dd This user doesn't have a yahoo.com account (bob@yahoo.com) [0] - "
		    "mta1234.mail.bf1.yahoo.com", BLAME_RECIPIENT);
	expect(554, "30 Sorry, your message to bob@yahoo.com cannot be delivered. This mailbox is disabled (554.30)",
	       BLAME_RECIPIENT);
	/* the message itself: too big everywhere */
	expect_local("5.3.4", "message too big for remote host (30000000 bytes, limit 26214400)", BLAME_RECIPIENT);
}

static void recipient_codes_win_over_text(void **st)
{
	(void)st;
	/* a 5.1.1 that names a block list is still about the mailbox */
	expect(550, "5.1.1 <bob@example.org>: mailbox unavailable, blocked using the local recipient list",
	       BLAME_RECIPIENT);
	expect(550, "5.1.1 user unknown (Spamhaus filter active)", BLAME_RECIPIENT);
	expect(452, "4.2.2 mailbox full, try again later", BLAME_RECIPIENT);
}

static void sender_reputation_blocks(void **st)
{
	(void)st;
	/* Postfix reject_rbl_client with Spamhaus ZEN (the text of the test relay) */
	expect(554, "5.7.1 Service unavailable; client host blocked using zen.spamhaus.org",
	       BLAME_SENDER_REPUTATION);
	expect(554, "5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org; "
		    "https://www.spamhaus.org/query/ip/192.0.2.1", BLAME_SENDER_REPUTATION);
	/* Barracuda, UCEPROTECT */
	expect(554, "Service unavailable; Client host [192.0.2.1] blocked using Barracuda Reputation; "
		    "http://www.barracudanetworks.com/reputation/?pr=1&ip=192.0.2.1", BLAME_SENDER_REPUTATION);
	expect(550, "5.7.1 Service unavailable; Client host [192.0.2.1] blocked using dnsbl-1.uceprotect.net; "
		    "IP 192.0.2.1 is UCEPROTECT-Level1 listed", BLAME_SENDER_REPUTATION);
	/* Microsoft NDR reference (learn.microsoft.com) */
	expect(550, "5.7.606 Access denied, banned sending IP [192.0.2.1]. To request removal from this list "
		    "please visit https://sender.office.com/ and follow the directions.", BLAME_SENDER_REPUTATION);
	expect(451, "4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP "
		    "reputation. For e-mail delivery information, see https://postmaster.live.com (S775)",
	       BLAME_SENDER_REPUTATION);
	expect(451, "4.7.651 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation.",
	       BLAME_SENDER_REPUTATION);
	expect(550, "5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your Internet "
		    "service provider since part of their network is on our block list (S3150).",
	       BLAME_SENDER_REPUTATION);
	/* Gmail */
	expect(550, "5.7.26 This mail is unauthenticated, which poses a security risk to the sender and Gmail "
		    "users, and has been blocked. The sender must authenticate with at least one of SPF or DKIM.",
	       BLAME_SENDER_REPUTATION);
	expect(550, "5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy.",
	       BLAME_SENDER_REPUTATION);
	expect(550, "5.7.25 [192.0.2.1] The IP address sending this message does not have a PTR record setup, "
		    "or the corresponding forward DNS entry does not point to the sending IP.",
	       BLAME_SENDER_REPUTATION);
	expect(421, "4.7.27 [192.0.2.1] Your email has been rate limited because SPF authentication didn't pass",
	       BLAME_SENDER_REPUTATION);
	expect(550, "5.7.1 [192.0.2.1] Our system has detected that this message is likely unsolicited mail. "
		    "To reduce the amount of spam sent to Gmail, this message has been blocked.",
	       BLAME_SENDER_REPUTATION);
	expect(550, "5.7.1 The IP you're using to send mail is not authorized to send email directly to our "
		    "servers. Please use the SMTP relay at your service provider instead.", BLAME_SENDER_REPUTATION);
	/* Yahoo (senders.yahooinc.com/smtp-error-codes) */
	expect(421, "4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or "
		    "user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
	       BLAME_SENDER_REPUTATION);
	expect(553, "5.7.2 [PH01] Email not accepted for policy reasons.", BLAME_SENDER_REPUTATION);
	expect(553, "5.7.1 [BL21] Connections will not be accepted from 192.0.2.1, because the ip is in "
		    "Spamhaus's list; see http://postmaster.yahoo.com/550-bl23.html", BLAME_SENDER_REPUTATION);
	/* Proofpoint, Comcast/Cloudmark, AT&T */
	expect(554, "5.7.1 Mail rejected by Proofpoint Essentials: your IP address is blocked",
	       BLAME_SENDER_REPUTATION);
	expect(550, "Message rejected due to local policy - see https://ipcheck.proofpoint.com/?ip=192.0.2.1",
	       BLAME_SENDER_REPUTATION);
	expect(554, "resimta-po-30v.sys.comcast.net resimta 192.0.2.1 IP has a poor reputation on Cloudmark "
		    "Sender Intelligence (CSI)", BLAME_SENDER_REPUTATION);
	expect(553, "5.3.0 flpd575 DNSBL:RBL 521< 192.0.2.1 >_is_blocked.For assistance forward this error to "
		    "abuse_rbl@abuse-att.net", BLAME_SENDER_REPUTATION);
	expect(550, "Your IP 192.0.2.1 is blacklisted", BLAME_SENDER_REPUTATION);
	expect(450, "4.7.1 Client host rejected: cannot find your hostname, [192.0.2.1]", BLAME_SENDER_REPUTATION);
}

static void throttling(void **st)
{
	(void)st;
	/* Gmail */
	expect(421, "4.7.0 Try again later, closing connection. (EHLO) d2e1a72fcca58-6c3f1f2 - gsmtp", BLAME_THROTTLE);
	expect(421, "4.7.28 [192.0.2.1 15] Our system has detected an unusual rate of unsolicited mail "
		    "originating from your IP address. To protect our users from spam, mail sent from your IP "
		    "address has been temporarily rate limited.", BLAME_THROTTLE);
	expect(450, "4.2.1 The user you are trying to contact is receiving mail at a rate that prevents "
		    "additional messages from being delivered.", BLAME_THROTTLE);
	/* Yahoo */
	expect(421, "4.7.0 [TS01] Messages from 192.0.2.1 temporarily deferred due to user complaints - "
		    "4.16.55.1; see https://help.yahoo.com/kb/postmaster/SLN3434.html", BLAME_THROTTLE);
	expect(421, "4.7.0 [TS03] All messages from 192.0.2.1 will be permanently deferred; Retrying will NOT "
		    "succeed.", BLAME_THROTTLE);
	/* Exchange, Microsoft 365 */
	expect(421, "4.3.2 The maximum number of concurrent server connections has exceeded a limit, closing "
		    "transmission channel", BLAME_THROTTLE);
	expect(451, "4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77714)", BLAME_THROTTLE);
	/* Amazon SES (a relay) */
	expect(454, "Throttling failure: Maximum sending rate exceeded.", BLAME_THROTTLE);
	expect(454, "Throttling failure: Daily message quota exceeded.", BLAME_THROTTLE);
	/* Apple iCloud */
	expect(421, "4.7.1 Messages to bob@icloud.com deferred due to excessive volume. Try again later - "
		    "https://support.apple.com/en-us/HT204137", BLAME_THROTTLE);
	/* RFC 5321 too many recipients, and the common "too many connections" */
	expect(452, "4.5.3 Too many recipients", BLAME_THROTTLE);
	expect(421, "Too many concurrent SMTP connections from this IP address; please try again later.",
	       BLAME_THROTTLE);
	expect(450, "4.7.1 Rate limited, please slow down", BLAME_THROTTLE);
}

static void auth_and_relay_refusals(void **st)
{
	(void)st;
	struct reply_info ri;
	/* smtp_client turns 535 5.7.8 into a temporary 4.7.8 with the code kept */
	reply_classify(535, "5.7.8 Authentication credentials invalid", &ri);
	ri.outcome = REPLY_TEMP;
	ri.enh[0] = '4';
	assert_int_equal(reply_blame_info(&ri, NULL), BLAME_AUTH);
	expect(535, "Authentication Credentials Invalid", BLAME_AUTH);                  /* SES */
	expect(535, "Authentication failed: Bad username / password", BLAME_AUTH);      /* SendGrid */
	expect(530, "5.7.0 Authentication required", BLAME_AUTH);
	expect(454, "4.7.0 Temporary authentication failure", BLAME_AUTH);
	expect_local("4.7.0", "AUTH PLAIN or LOGIN required but not offered by host", BLAME_AUTH);
	/* decided: a refused relay is AUTH, not reputation (see reply_patterns.def) */
	expect(550, "5.7.1 Relaying denied", BLAME_AUTH);
	expect(554, "5.7.1 <bob@example.org>: Relay access denied", BLAME_AUTH);
	expect(554, "5.7.1 Relay denied", BLAME_AUTH);                                  /* outpost itself */
}

static void tls_failures_as_smtp_client_words_them(void **st)
{
	(void)st;
	expect_local("4.7.5", "TLS handshake failed: wrong version number", BLAME_TLS);
	expect_local("4.7.5", "certificate verification failed: self-signed certificate", BLAME_TLS);
	expect_local("4.7.5", "TLS required but not offered by host", BLAME_TLS);
	expect_local("4.7.5", "TLS required but STARTTLS refused: 454 4.7.0 TLS not available", BLAME_TLS);
	expect_local("4.7.0", "refusing to send credentials without TLS", BLAME_TLS);
	expect(530, "5.7.0 Must issue a STARTTLS command first", BLAME_TLS);
}

static void ordinary_replies_blame_nobody(void **st)
{
	(void)st;
	expect(250, "2.0.0 Ok: queued as 4AB (blocked using nothing)", BLAME_NONE);
	/* greylisting is not throttling, although it says "try again later" */
	expect(450, "4.2.0 <bob@example.org>: Recipient address rejected: Greylisted, see "
		    "http://postgrey.schweikert.ch/help/example.org.html", BLAME_NONE);
	expect(451, "4.7.1 Please try again later (greylisting)", BLAME_NONE);
	/* content, not reputation */
	expect(550, "5.7.1 Message rejected as spam by Content Filtering.", BLAME_NONE);
	expect(554, "5.6.0 Message contains bare LF", BLAME_NONE);
	/* local network trouble is not a path verdict of any kind here */
	expect_local("4.4.1", "connect to mx.example.org[192.0.2.25] failed: Connection refused", BLAME_NONE);
	expect_local("4.4.2", "timeout after DATA", BLAME_NONE);
	expect(451, "4.3.0 Temporary local problem", BLAME_NONE);
	/* the same words in a 5xx "try again later" is not a deferral */
	expect(550, "Mailbox unavailable, try again later", BLAME_NONE);
	/* odd input */
	assert_int_equal(reply_blame(0, NULL, NULL, NULL), BLAME_NONE);
	assert_int_equal(reply_blame(-1, "x", "", NULL), BLAME_NONE);
	assert_int_equal(reply_blame(99999, "5.1", "blocked using x", NULL), BLAME_SENDER_REPUTATION);
	assert_int_equal(reply_blame(550, "5.1.1.1", "x", NULL), BLAME_NONE);
}

static void where_names_the_pattern_line(void **st)
{
	(void)st;
	const char *where = NULL;
	assert_int_equal(reply_blame(550, "5.1.1", "5.1.1 User unknown", &where), BLAME_RECIPIENT);
	assert_non_null(strstr(where, "reply_patterns.def:"));
	assert_int_equal(reply_blame(250, "2.0.0", "ok", &where), BLAME_NONE);
	assert_string_equal(where, "");
	assert_string_equal(blame_name(BLAME_SENDER_REPUTATION), "sender_reputation");
	assert_string_equal(blame_name((enum blame)42), "?");
}

/* Every line of the data file: a known blame, a code pattern that can
 * match something, an enhanced-code pattern of three components. */
static void patterns_are_well_formed(void **st)
{
	(void)st;
	static const struct { enum blame b; const char *code, *enh, *text; int line; } pats[] = {
#define BLAME_PATTERN(b, code, enh, text) { BLAME_##b, code, enh, text, __LINE__ },
#include "delivery/reply_patterns.def"
#undef BLAME_PATTERN
	};
	assert_true(sizeof(pats) / sizeof(pats[0]) > 50);
	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		const char *c = pats[i].code, *e = pats[i].enh;
		int ok = *c == '\0' || strcmp(c, "local") == 0 ||
			 (strlen(c) == 3 && strspn(c, "0123456789x") == 3 && (c[0] == '4' || c[0] == '5' || c[0] == 'x'));
		int dots = 0;
		for (const char *p = e; *p; p++)
			dots += *p == '.';
		ok &= *e == '\0' || (dots == 2 && strspn(e, "0123456789x.") == strlen(e) && e[0] != '.' &&
				     strstr(e, "..") == NULL && e[strlen(e) - 1] != '.');
		ok &= pats[i].text[0] != '*';
		ok &= *c || *e || *pats[i].text;   /* a pattern matching everything would end the table */
		if (!ok)
			fail_msg("reply_patterns.def:%d is malformed", pats[i].line);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(recipient_replies_never_blame_the_path),
		cmocka_unit_test(recipient_codes_win_over_text),
		cmocka_unit_test(sender_reputation_blocks),
		cmocka_unit_test(throttling),
		cmocka_unit_test(auth_and_relay_refusals),
		cmocka_unit_test(tls_failures_as_smtp_client_words_them),
		cmocka_unit_test(ordinary_replies_blame_nobody),
		cmocka_unit_test(where_names_the_pattern_line),
		cmocka_unit_test(patterns_are_well_formed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

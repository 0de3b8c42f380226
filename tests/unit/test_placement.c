/*
 * test_placement: the parts of the inbox-placement probes that work
 * without a server: the IMAP response parsers (LIST with quoted, atom and
 * literal names, the junk folder by SPECIAL-USE and by name, SEARCH,
 * CAPABILITY) on well-formed and hostile answers, mailbox URLs, the
 * placement config (defaults, every error with file:line, the password
 * file's mode), and SPOOL/placement.db (retention, the trend).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "placement/imap_resp.h"
#include "placement/placement_store.h"
#include "tmpdir.h"

#define S(x) x, sizeof(x) - 1

static struct imap_mailbox *list(const char *text, size_t len, size_t *n)
{
	struct imap_mailbox *mb = NULL;
	*n = 0;
	imap_parse_list(text, len, &mb, n);
	return mb;
}

static void list_forms_of_names(void **st)
{
	(void)st;
	size_t n;
	struct imap_mailbox *mb = list(S("* LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n"
					 "* LIST (\\HasNoChildren) \"/\" \"Junk E-mail\"\r\n"
					 "* list (\\Noselect \\HasChildren) \"/\" \"[Gmail]\"\r\n"
					 "* LIST () \".\" {11}\r\nINBOX.S\"p m\r\n"
					 "* LIST () NIL \"a\\\"b\\\\c\"\r\n"
					 "* LIST (\\NonExistent) \"/\" Gone (CHILDINFO (\"SUBSCRIBED\"))\r\n"
					 "* OK [CAPABILITY IMAP4rev1] not a list\r\n"
					 "A1 OK LIST completed\r\n"), &n);
	assert_int_equal(n, 6);
	assert_string_equal(mb[0].name, "Junk");
	assert_int_equal(mb[0].flags, IMAP_MB_JUNK);
	assert_int_equal(mb[0].delim, '/');
	assert_string_equal(mb[1].name, "Junk E-mail");
	assert_string_equal(mb[2].name, "[Gmail]");
	assert_int_equal(mb[2].flags, IMAP_MB_NOSELECT);
	assert_string_equal(mb[3].name, "INBOX.S\"p m");      /* a literal: taken as it is */
	assert_int_equal(mb[3].delim, '.');
	assert_string_equal(mb[4].name, "a\"b\\c");
	assert_int_equal(mb[4].delim, '\0');
	assert_string_equal(mb[5].name, "Gone");
	assert_int_equal(mb[5].flags, IMAP_MB_NOSELECT);
	imap_mailboxes_free(mb, n);
}

static void list_hostile_input(void **st)
{
	(void)st;
	static const char *const bad[] = {
		"* LIST (\\Junk \"/\" Junk\r\n",                  /* unclosed attributes */
		"* LIST (\\Junk) \"/\" \"Junk\r\n",               /* unterminated quoted */
		"* LIST (\\Junk) \"//\" Junk\r\n",                /* delimiter of two */
		"* LIST (\\Junk) \"/\" {99}\r\nJunk\r\n",         /* literal past the end */
		"* LIST (\\Junk) \"/\" {99999999999}\r\n",        /* literal too long */
		"* LIST (\\Junk) \"/\" {}\r\n",
		"* LIST (\\Junk) \"/\" {4}",
		"* LIST (\\Junk) \"/\" \"\"\r\n",                 /* empty name */
		"* LIST (\\Junk) \"/\"",
		"* LIST",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n;
		size_t len = strlen(bad[i]);
		struct imap_mailbox *mb = list(bad[i], len, &n);
		if (n != 0)
			fail_msg("case %zu: %zu mailboxes, want none (first \"%s\")", i, n, mb[0].name);
		imap_mailboxes_free(mb, n);
	}
	/* NUL in a name */
	size_t n;
	static const char nul[] = "* LIST (\\Junk) \"/\" {3}\r\na\0b\r\n";
	struct imap_mailbox *none = list(nul, sizeof(nul) - 1, &n);
	assert_int_equal(n, 0);
	imap_mailboxes_free(none, n);
	/* a bad line does not hide the good one after it */
	struct imap_mailbox *mb = list(S("* LIST (\\Junk \"/\" X\r\n* LIST (\\Junk) \"/\" Spam\r\n"), &n);
	assert_int_equal(n, 1);
	assert_string_equal(mb[0].name, "Spam");
	imap_mailboxes_free(mb, n);
}

static const char *junk_of(const char *text)
{
	static char out[64];
	size_t n;
	struct imap_mailbox *mb = list(text, strlen(text), &n);
	const char *j = imap_junk_folder(mb, n);
	snprintf(out, sizeof(out), "%s", j ? j : "(none)");
	imap_mailboxes_free(mb, n);
	return out;
}

static void junk_folder_by_special_use_then_name(void **st)
{
	(void)st;
	/* SPECIAL-USE wins over a folder merely named Junk */
	assert_string_equal(junk_of("* LIST () \"/\" Junk\r\n* LIST (\\Junk) \"/\" Bulk\r\n"), "Bulk");
	/* a \Junk that cannot be selected does not count */
	assert_string_equal(junk_of("* LIST (\\Junk \\Noselect) \"/\" Bulk\r\n* LIST () \"/\" spam\r\n"), "spam");
	assert_string_equal(junk_of("* LIST () \"/\" \"[Gmail]/Spam\"\r\n"), "[Gmail]/Spam");
	assert_string_equal(junk_of("* LIST () \"/\" \"Junk E-mail\"\r\n"), "Junk E-mail");
	assert_string_equal(junk_of("* LIST () \".\" INBOX.Junk\r\n"), "INBOX.Junk");
	/* Junk before Spam, whatever the order of the answer */
	assert_string_equal(junk_of("* LIST () \"/\" Spam\r\n* LIST () \"/\" JUNK\r\n"), "JUNK");
	assert_string_equal(junk_of("* LIST () \"/\" INBOX\r\n* LIST () \"/\" Junkyard\r\n"), "(none)");
	assert_string_equal(junk_of("* LIST () \".\" INBOXJunk\r\n"), "(none)");
}

static int search(const char *text, uint32_t *ids, size_t *n)
{
	return imap_parse_search(text, strlen(text), ids, 8, n);
}

static void search_answers(void **st)
{
	(void)st;
	uint32_t ids[8];
	size_t n;
	assert_int_equal(search("* SEARCH\r\n", ids, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(search("* 3 EXISTS\r\n* SEARCH 4 4294967295\r\nA1 OK done\r\n", ids, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 4);
	assert_int_equal(ids[1], 4294967295u);
	assert_int_equal(search("* SEARCH 7 (MODSEQ 917162500)\r\n", ids, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(search("* SEARCH 1\n* SEARCH 2\n", ids, &n), 0);   /* LF only, two lines */
	assert_int_equal(n, 2);
	assert_int_equal(search("* SEARCH 1 2 3 4 5 6 7 8 9 10\r\n", ids, &n), 0);   /* at most max */
	assert_int_equal(n, 8);
	assert_int_equal(search("* SEARCHES 1\r\n", ids, &n), 0);                     /* not SEARCH */
	assert_int_equal(n, 0);
	static const char *const bad[] = { "* SEARCH 0\r\n", "* SEARCH 4294967296\r\n", "* SEARCH 12345678901\r\n",
					   "* SEARCH 1 x\r\n", "* SEARCH -1\r\n", "* SEARCH 1  2\r\n",
					   "* SEARCH (MODSEQ 1\r\n", "* SEARCH 5 (MODSEQ x)\r\n", "* SEARCH 1 \r\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (search(bad[i], ids, &n) != -1)
			fail_msg("case %zu (%s): accepted", i, bad[i]);
}

static void capabilities(void **st)
{
	(void)st;
	assert_true(imap_has_capability(S("* CAPABILITY IMAP4rev1 UIDPLUS MOVE\r\n"), "uidplus"));
	assert_true(imap_has_capability(S("* OK [CAPABILITY IMAP4rev1 UIDPLUS] ready\r\n"), "UIDPLUS"));
	assert_false(imap_has_capability(S("* CAPABILITY IMAP4rev1 UIDPLUSX\r\n"), "UIDPLUS"));
	assert_false(imap_has_capability(S("* OK UIDPLUS\r\n"), "UIDPLUS"));
	assert_false(imap_has_capability(S("* CAPABILITY"), "UIDPLUS"));
	assert_false(imap_has_capability(S("["), "UIDPLUS"));
}

static void mailbox_urls(void **st)
{
	(void)st;
	char *u = imap_mailbox_url("imaps://imap.example:993/", "[Gmail]/Spam");
	assert_string_equal(u, "imaps://imap.example:993/%5BGmail%5D/Spam");
	free(u);
	u = imap_mailbox_url("imap://127.0.0.1:143", "Junk E-mail");
	assert_string_equal(u, "imap://127.0.0.1:143/Junk%20E-mail");
	free(u);
	u = imap_mailbox_url("imap://h", NULL);
	assert_string_equal(u, "imap://h/");
	free(u);
	u = imap_mailbox_url("imap://h", "a;UID=1%?");
	assert_string_equal(u, "imap://h/a%3BUID%3D1%25%3F");
	free(u);
}

/* --- config ------------------------------------------------------------- */

static char dir[64];

static struct config *load_text(const char *text, char *err, size_t errlen)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/outpost.conf", dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	return config_load(path, err, errlen);
}

static void write_password(const char *name, const char *text, mode_t mode)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
}

#define DKIM "dkim = ( { domain = \"example.com\"; selector = \"s\"; key = \"k.pem\"; } );\n"
#define SEED(imap, pw) "{ address = \"p@seed.example\"; imap = \"" imap "\"; user = \"u\"; password_file = \"" pw "\"; }"

static void config_section(void **st)
{
	char err[512];
	(void)st;
	assert_int_equal(tmpdir_make(dir, sizeof(dir), "placement"), 0);
	write_password("pw", "secret one\nignored\n", 0600);
	write_password("open", "secret\n", 0644);
	write_password("empty", "\n", 0600);
	struct config *cf = load_text("hostname = \"a\";\n", err, sizeof(err));
	assert_non_null(cf);
	assert_int_equal(cf->placement.interval, 0);
	config_free(cf);
	cf = load_text(DKIM "placement = { seeds = ( " SEED("imaps://imap.seed.example", "pw") ", "
		       "{ address = \"q@x.example\"; imap = \"imap://127.0.0.1:1143/\"; user = \"v\"; "
		       "password_file = \"pw\"; ca_file = \"ca.pem\"; } ); };\n", err, sizeof(err));
	assert_non_null(cf);
	assert_int_equal(cf->placement.interval, 6 * 3600);
	assert_int_equal(cf->placement.wait, 300);
	assert_int_equal(cf->placement.history, 100);
	assert_int_equal(cf->placement.nseeds, 2);
	assert_string_equal(cf->placement.seeds[0].password, "secret one");
	assert_true(cf->placement.seeds[0].tls_from_start);
	assert_false(cf->placement.seeds[0].plain_ok);
	assert_false(cf->placement.seeds[1].tls_from_start);
	assert_true(cf->placement.seeds[1].plain_ok);          /* imap:// to loopback: plain */
	assert_non_null(strstr(cf->placement.seeds[1].ca_file, "/ca.pem"));
	config_free(cf);
	cf = load_text(DKIM "placement = { interval = \"10s\"; wait = \"2s\"; history = 5; seeds = ( "
		       SEED("imap://imap.seed.example:143", "pw") " ); };\n", err, sizeof(err));
	assert_non_null(cf);
	assert_int_equal(cf->placement.interval, 10);
	assert_int_equal(cf->placement.wait, 2);
	assert_false(cf->placement.seeds[0].plain_ok);        /* imap:// elsewhere: STARTTLS */
	config_free(cf);
}

static void config_errors(void **st)
{
	char err[512];
	(void)st;
	static const struct { const char *text, *msg; } bad[] = {
		{ DKIM "placement = \"6h\";\n", ":2: placement: expected a group" },
		{ DKIM "placement = {\n every = \"5m\"; };\n", ":3: unknown setting \"every\"" },
		{ DKIM "placement = {\n interval = \"1m\";\n wait = \"1m\"; seeds = ( " SEED("imaps://h", "pw") " ); };\n",
		  ":4: placement: wait (60s) must be shorter than interval (60s)" },
		{ DKIM "placement = { interval = \"1h\"; };\n", ":2: placement: seeds = (" },
		{ DKIM "placement = { seeds = (\n " SEED("https://h", "pw") " ); };\n", ":3: placement: seed "
		  "p@seed.example: imap must be imaps://HOST[:PORT] or imap://HOST[:PORT]" },
		{ DKIM "placement = { seeds = (\n " SEED("imaps://h/INBOX", "pw") " ); };\n", ":3: placement: seed" },
		{ DKIM "placement = { seeds = (\n " SEED("imaps://h:0", "pw") " ); };\n", ":3: placement: seed" },
		{ DKIM "placement = { seeds = (\n " SEED("imaps://[::1", "pw") " ); };\n", ":3: placement: seed" },
		{ DKIM "placement = { seeds = (\n " SEED("imaps://u@h", "pw") " ); };\n", ":3: placement: seed" },
		{ DKIM "placement = { seeds = (\n " SEED("imaps://h", "open") " ); };\n",
		  ":3: placement: password_file" },
		{ DKIM "placement = { seeds = (\n " SEED("imaps://h", "empty") " ); };\n",
		  ":3: placement: password_file" },
		{ DKIM "placement = { seeds = (\n " SEED("imaps://h", "nonesuch") " ); };\n",
		  ":3: placement: password_file" },
		{ DKIM "placement = { seeds = ( " SEED("imaps://h", "pw") ",\n " SEED("imaps://h", "pw") " ); };\n",
		  ":3: placement: seed p@seed.example is listed twice" },
		{ DKIM "placement = { seeds = (\n { address = \"nobody\"; imap = \"imaps://h\"; user = \"u\"; "
		  "password_file = \"pw\"; } ); };\n", ":3: placement: seed address" },
		{ DKIM "placement = { seeds = (\n { address = \"a@b\"; imap = \"imaps://h\"; } ); };\n",
		  ":3: placement: seed a@b: user and password_file" },
		{ "placement = {\n seeds = ( " SEED("imaps://h", "pw") " ); };\n", ":1: placement: the probes are "
		  "DKIM-signed" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(load_text(bad[i].text, err, sizeof(err)));
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
}

/* --- store -------------------------------------------------------------- */

static void add(struct placement_store *s, const char *route, const char *result, unsigned keep)
{
	char err[256];
	struct placement_result r = { 1000, route, "p@seed.example", "gmail", "tok", "QID", result, "INBOX", "" };
	if (placement_store_add(s, &r, 1, keep, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

static void store_keeps_history_and_trend(void **st)
{
	char err[256];
	(void)st;
	assert_null(placement_store_open(dir, 0, err, sizeof(err)));    /* nothing yet: not created */
	assert_non_null(strstr(err, "no placement results"));
	struct placement_store *s = placement_store_open(dir, 1, err, sizeof(err));
	assert_non_null(s);
	for (int i = 0; i < 6; i++)
		add(s, "a", i < 3 ? "spam" : "inbox", 4);       /* spam, spam, [spam, inbox, inbox, inbox] */
	add(s, "b", "inbox", 4);
	add(s, "b", "error", 4);
	struct placement_line *l;
	size_t n;
	assert_int_equal(placement_store_summary(s, 10, &l, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0].route, "a");
	assert_string_equal(l[0].result, "inbox");
	assert_int_equal(l[0].n, 4);                  /* only 4 kept */
	assert_int_equal(l[0].spam, 1);
	assert_int_equal(l[0].inbox, 3);
	assert_string_equal(l[1].route, "b");
	assert_string_equal(l[1].result, "error");    /* the newest, but not counted */
	assert_int_equal(l[1].n, 1);
	assert_int_equal(l[1].inbox, 1);
	placement_lines_free(l, n);
	assert_int_equal(placement_store_summary(s, 2, &l, &n, err, sizeof(err)), 0);
	assert_int_equal(l[0].n, 2);
	assert_int_equal(l[0].inbox, 2);
	placement_lines_free(l, n);
	placement_store_close(s);
	assert_int_equal(tmpdir_remove(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(list_forms_of_names),
		cmocka_unit_test(list_hostile_input),
		cmocka_unit_test(junk_folder_by_special_use_then_name),
		cmocka_unit_test(search_answers),
		cmocka_unit_test(capabilities),
		cmocka_unit_test(mailbox_urls),
		cmocka_unit_test(config_section),
		cmocka_unit_test(config_errors),
		cmocka_unit_test(store_keeps_history_and_trend),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

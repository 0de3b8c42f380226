/*
 * bounce: what outpost understands of a bounce, DSN, complaint or
 * auto-reply, without acting on it.
 *     outpost bounce parse FILE [--json]      ("-" reads standard input)
 *     outpost bounce ingest [FILE]            act on it as the bounce mailbox would
 * Exit status: 0 when the message is a report outpost understood (any
 * kind but "unknown"), 1 when it is not, 2 for usage and I/O errors.
 * The JSON shape: {"kind", "recipients": [{"recipient", "status",
 * "reply_code", "reason", "hard", "scope", "diagnostic"}], "original":
 * {"message_id", "queue_id", "sender"}}, recipients in report order.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <time.h>

#include "cli/commands.h"
#include "core/buf.h"
#include "core/config.h"
#include "feedback/bounce.h"
#include "feedback/feedback.h"

/* The whole file (or standard input for "-") into b; -1 on error. */
int cli_read_file(const char *path, struct buf *b)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL)
		return -1;
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(b, chunk, n);
	int err = ferror(f);
	if (f != stdin)
		fclose(f);
	if (b->data == NULL)
		buf_puts(b, "");
	return err ? -1 : 0;
}

static json_t *report_json(const struct bounce_report *r)
{
	json_t *rcpts = json_array();
	for (size_t i = 0; i < r->nrcpt; i++) {
		const struct bounce_rcpt *x = &r->rcpt[i];
		json_array_append_new(rcpts, json_pack("{s:s, s:s, s:o, s:s, s:b, s:s, s:s}",
			"recipient", x->recipient, "status", x->status,
			"reply_code", x->reply_code ? json_integer(x->reply_code) : json_null(),
			"reason", x->reason, "hard", x->hard, "scope", x->scope, "diagnostic", x->diagnostic));
	}
	return json_pack("{s:s, s:o, s:{s:s?, s:s?, s:s?}}", "kind", bounce_kind_name(r->kind), "recipients", rcpts,
			 "original", "message_id", r->message_id[0] ? r->message_id : NULL,
			 "queue_id", r->queue_id[0] ? r->queue_id : NULL, "sender", r->sender[0] ? r->sender : NULL);
}

static void print_text(const struct bounce_report *r)
{
	printf("kind: %s\n", bounce_kind_name(r->kind));
	if (r->feedback_type[0])
		printf("feedback-type: %s\n", r->feedback_type);
	printf("original: message-id %s, queue id %s, sender %s\n", r->message_id[0] ? r->message_id : "-",
	       r->queue_id[0] ? r->queue_id : "-", r->sender[0] ? r->sender : "-");
	for (size_t i = 0; i < r->nrcpt; i++) {
		const struct bounce_rcpt *x = &r->rcpt[i];
		printf("recipient %zu: %s\n  status %s, reply %d, reason %s (%s, scope %s)\n  diagnostic: %.300s\n",
		       i + 1, x->recipient, x->status, x->reply_code, x->reason, x->hard ? "hard" : "soft", x->scope,
		       x->diagnostic);
	}
}

static int bounce_parse_cmd(int argc, char **argv)
{
	const char *file = NULL;
	int json = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (file == NULL)
			file = argv[i];
		else
			file = "";
	}
	if (file == NULL || *file == '\0') {
		fprintf(stderr, "usage: outpost bounce parse FILE [--json]\n");
		return 2;
	}
	struct buf b = BUF_INIT;
	if (cli_read_file(file, &b) != 0) {
		fprintf(stderr, "outpost: bounce: %s: %s\n", file, strerror(errno));
		buf_free(&b);
		return 2;
	}
	struct bounce_report r;
	bounce_parse(b.data, b.len, &r);
	if (json) {
		json_t *j = report_json(&r);
		char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		json_decref(j);
	} else {
		print_text(&r);
	}
	int rc = r.kind == BOUNCE_UNKNOWN ? 1 : 0;
	bounce_report_free(&r);
	buf_free(&b);
	return rc;
}

/* outpost bounce ingest [FILE]: what the bounce mailbox does, for reports
 * that land elsewhere (a pipe from Postfix, Exim, procmail, fetchmail). */
/* Each suppression ingest writes reaches a running daemon's copy
 * (cli_suppress_tell_daemon) before the command returns. */
struct told {
	const struct config *cf;
	int failed;
};

static void tell_daemon(void *arg, const char *address, const char *scope)
{
	struct told *t = arg;
	if (!t->failed && cli_suppress_tell_daemon(t->cf, address, scope) < 0)
		t->failed = 1;
}

static int bounce_ingest_cmd(int argc, char **argv, const char *config_file)
{
	const char *file = argc >= 3 ? argv[2] : "-";
	struct buf b = BUF_INIT;
	char err[1024];
	if (argc > 3 || cli_read_file(file, &b) != 0) {
		fprintf(stderr, argc > 3 ? "usage: outpost bounce ingest [FILE]\n" : "outpost: bounce: %s: cannot read\n",
			file);
		buf_free(&b);
		return 2;
	}
	struct config *cf = NULL;
	sqlite3 *db = cli_spool_db(config_file, &cf);
	unsigned char key[256];
	size_t keylen = 0;
	if (db && cf->bounces.domain && verp_key_load(cf->bounces.secret_file, key, sizeof(key), &keylen, err,
						      sizeof(err)) < 0) {
		fprintf(stderr, "outpost: bounce: %s\n", err);
		sqlite3_close(db);
		db = NULL;
	}
	if (db == NULL) {
		config_free(cf);
		buf_free(&b);
		return 2;
	}
	struct bounce_report r;
	struct feedback_outcome out;
	struct told told = { cf, 0 };
	struct feedback_ctx fx = { cf, keylen ? key : NULL, keylen, NULL, NULL, tell_daemon, &told };
	bounce_parse(b.data, b.len, &r);
	int rc = feedback_apply(db, &fx, &r, NULL, time(NULL), &out, err, sizeof(err));
	if (told.failed && rc == 0)
		rc = 1;   /* written, but a running daemon's copy did not follow (said on stderr) */
	if (rc < 0)
		fprintf(stderr, "outpost: bounce: %s\n", err);
	else
		printf("%s: %s%s%s; suppressed %u, complaints %u, soft bounces counted %u, ignored %u\n",
		       bounce_kind_name(r.kind), out.attributed ? "message " : "", out.attributed ? out.qid : "",
		       out.attributed ? "" : out.why, out.suppressed, out.complaints, out.soft_counted, out.ignored);
	bounce_report_free(&r);
	sqlite3_close(db);
	config_free(cf);
	buf_free(&b);
	return rc != 0 ? 2 : 0;
}

int cmd_bounce(int argc, char **argv, const char *config_file)
{
	if (argc >= 2 && strcmp(argv[1], "parse") == 0)
		return bounce_parse_cmd(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "ingest") == 0)
		return bounce_ingest_cmd(argc, argv, config_file);
	fprintf(stderr, "usage: outpost bounce parse FILE [--json] | outpost bounce ingest [FILE]\n");
	return 2;
}

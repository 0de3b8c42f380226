/*
 * report: prints the doctor's findings.  Text: failures first, then
 * warnings, then passes, each with its evidence and fix, and a one-line
 * summary; colour escapes only when the caller says stdout is a terminal.
 * JSON: one object {domain, status, counts, findings[]} for machines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "doctor/doctor.h"

const struct name_code doctor_status_names[] = {
	{ "pass", DOCTOR_PASS }, { "warn", DOCTOR_WARN }, { "fail", DOCTOR_FAIL }, { NULL, -1 },
};

const char *doctor_status_name(enum doctor_status st)
{
	const char *name = str_name_code(doctor_status_names, (int)st);
	return name ? name : "?";
}

static enum doctor_status overall(const struct doctor *d, size_t count[3])
{
	enum doctor_status worst = DOCTOR_PASS;
	count[0] = count[1] = count[2] = 0;
	for (size_t i = 0; i < d->nf; i++) {
		count[d->f[i].status]++;
		if (d->f[i].status > worst)
			worst = d->f[i].status;
	}
	return worst;
}

/* Findings print in this order of checks within each severity. */
static int check_rank(const char *check)
{
	static const char *const order[] = { "sources", "spf", "dkim", "dmarc", "rdns", "dnsbl",
					     "transport", "bounces", "bulk" };
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (strcmp(order[i], check) == 0)
			return (int)i;
	return (int)(sizeof(order) / sizeof(order[0]));
}

static void print_finding(const struct doctor_finding *f, int colour)
{
	static const char *const label[] = { "PASS", "WARN", "FAIL" };
	static const char *const col[] = { "\033[32m", "\033[33m", "\033[1;31m" };
	printf("%s%s%s %-9s %s\n", colour ? col[f->status] : "", label[f->status],
	       colour ? "\033[0m" : "", f->check, f->subject);
	printf("               %s\n", f->evidence);
	if (f->fix)
		printf("     fix:      %s\n", f->fix);
}

void doctor_report_text(const struct doctor *d, int colour)
{
	size_t count[3];
	overall(d, count);
	printf("outpost doctor %s\n", d->domain);
	for (int st = DOCTOR_FAIL; st >= DOCTOR_PASS; st--) {
		if (count[st] == 0)
			continue;
		printf("\n");
		for (int rank = 0; rank <= check_rank(""); rank++)
			for (size_t i = 0; i < d->nf; i++)
				if ((int)d->f[i].status == st && check_rank(d->f[i].check) == rank)
					print_finding(&d->f[i], colour);
	}
	printf("\n%zu failed, %zu warnings, %zu passed\n", count[DOCTOR_FAIL], count[DOCTOR_WARN],
	       count[DOCTOR_PASS]);
}

int doctor_report_json(const struct doctor *d)
{
	size_t count[3];
	enum doctor_status worst = overall(d, count);
	json_t *list = json_array();
	for (size_t i = 0; i < d->nf; i++) {
		const struct doctor_finding *f = &d->f[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "check", f->check,
				      "status", doctor_status_name(f->status), "subject", f->subject,
				      "evidence", f->evidence);
		if (o == NULL)
			continue;
		json_object_set_new(o, "fix", f->fix ? json_string(f->fix) : json_null());
		json_array_append_new(list, o);
	}
	json_t *top = json_pack("{s:s, s:s, s:{s:I, s:I, s:I}, s:o}", "domain", d->domain,
				"status", doctor_status_name(worst), "counts",
				doctor_status_name(DOCTOR_FAIL), (json_int_t)count[DOCTOR_FAIL],
				doctor_status_name(DOCTOR_WARN), (json_int_t)count[DOCTOR_WARN],
				doctor_status_name(DOCTOR_PASS), (json_int_t)count[DOCTOR_PASS],
				"findings", list);
	if (top == NULL)
		return -1;
	char *text = json_dumps(top, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	json_decref(top);
	if (text == NULL)
		return -1;
	puts(text);
	free(text);
	return 0;
}

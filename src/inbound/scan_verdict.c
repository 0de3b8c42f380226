/*
 * scan_verdict: parses rspamd's /checkv2 reply with jansson; see scan_verdict.h.
 */
#include "inbound/scan_verdict.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const action_names[] = {
	[SCAN_NO_ACTION] = "no action", [SCAN_GREYLIST] = "greylist", [SCAN_ADD_HEADER] = "add header",
	[SCAN_REWRITE_SUBJECT] = "rewrite subject", [SCAN_SOFT_REJECT] = "soft reject", [SCAN_REJECT] = "reject",
};

const char *scan_action_name(enum scan_action a)
{
	return (unsigned)a < sizeof(action_names) / sizeof(action_names[0]) ? action_names[a] : "?";
}

/* src into out (size > 0), printable ASCII only, cut to fit. */
static void copy_safe(char *out, size_t size, const char *src, size_t len)
{
	size_t n = len < size - 1 ? len : size - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	out[n] = '\0';
}

/* The symbol names, joined with ','; a name that does not fit ends the list. */
static void join_symbols(json_t *symbols, char *out, size_t size)
{
	const char *name;
	json_t *val;
	size_t used = 0;
	out[0] = '\0';
	if (!json_is_object(symbols))
		return;
	json_object_foreach(symbols, name, val) {
		size_t n = strlen(name);
		(void)val;
		if (used + (used ? 1 : 0) + n + 1 > size)
			break;
		if (used)
			out[used++] = ',';
		copy_safe(out + used, size - used, name, n);
		used += n;
	}
}

static int fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -1;
}

static int number(json_t *j, double *out)
{
	if (j == NULL)
		return 0;
	if (!json_is_number(j) || !isfinite(json_number_value(j)))
		return -1;
	*out = json_number_value(j);
	return 0;
}

int scan_verdict_parse(const char *data, size_t len, struct scan_verdict *v, char *err, size_t errlen)
{
	json_error_t je;
	memset(v, 0, sizeof(*v));
	json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return fail(err, errlen, "not JSON");
	int rc = -1;
	const char *action = json_string_value(json_object_get(root, "action"));
	size_t i, n = sizeof(action_names) / sizeof(action_names[0]);
	for (i = 0; action && i < n && strcmp(action, action_names[i]) != 0; i++)
		;
	if (!json_is_object(root))
		fail(err, errlen, "not a JSON object");
	else if (action == NULL || i == n)
		fail(err, errlen, action ? "unknown action" : "no action in the reply");
	else if (number(json_object_get(root, "score"), &v->score) < 0 ||
		 number(json_object_get(root, "required_score"), &v->required) < 0)
		fail(err, errlen, "score is not a number");
	else
		rc = 0;
	if (rc == 0) {
		v->action = (enum scan_action)i;
		snprintf(v->action_name, sizeof(v->action_name), "%s", action_names[i]);
		join_symbols(json_object_get(root, "symbols"), v->symbols, sizeof(v->symbols));
		json_t *msg = json_object_get(json_object_get(root, "messages"), "smtp_message");
		if (json_is_string(msg))
			copy_safe(v->message, sizeof(v->message), json_string_value(msg), json_string_length(msg));
	}
	json_decref(root);
	return rc;
}

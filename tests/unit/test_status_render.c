/* Unit tests: the status page's events (the JSON detail of an event that
 * concerns no message as key=value text, other details as they are, both
 * escaped) and its rejection totals and reasons. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "obs/status_render.h"

static char *render(json_t *events, json_t *stats)
{
	char *page = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&page, &len);
	assert_non_null(out);
	json_t *routes = json_pack("{s:[]}", "routes");
	struct status_facts f = { "relay.test", 1700000000, routes, stats, events, NULL, NULL };
	status_render(out, &f);
	fclose(out);
	json_decref(routes);
	return page;
}

static json_t *event(const char *name, const char *detail)
{
	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:I}", "time", (json_int_t)1700000000, "event", name, "qid", "",
			 "route", "relay1", "rcpt", "", "detail", detail, "id", (json_int_t)1);
}

static void test_json_detail_as_key_value(void **st)
{
	(void)st;
	json_t *events = json_array();
	json_array_append_new(events, event("failover", "{\"attempts\":2,\"from_route\":\"relay1\","
					     "\"reason\":\"451 <try> later\",\"to_route\":\"relay2\",\"up\":true,"
					     "\"codes\":[\"127.0.0.4\"],\"why\":\"\"}"));
	json_array_append_new(events, event("deferred", "451 4.3.0 {not json} <later>"));
	json_array_append_new(events, event("odd", "{\"broken\":"));
	char *page = render(events, NULL);
	assert_non_null(strstr(page, "<td class=\"detail\">attempts=2 from_route=relay1 "
				     "reason=\"451 &lt;try&gt; later\" to_route=relay2 up=true "
				     "codes=[&quot;127.0.0.4&quot;] why=\"\"</td>"));
	assert_null(strstr(page, "{&quot;attempts"));
	assert_non_null(strstr(page, "<td class=\"detail\">451 4.3.0 {not json} &lt;later&gt;</td>"));
	assert_non_null(strstr(page, "<td class=\"detail\">{&quot;broken&quot;:</td>"));   /* as it is */
	free(page);
	json_decref(events);
}

static void test_rejections_shown(void **st)
{
	(void)st;
	json_t *stats = json_pack("{s:{s:I,s:I},s:[{s:s,s:I,s:n}]}", "totals", "received", (json_int_t)3, "rejected",
				  (json_int_t)7, "rejection_reasons", "reason", "relay_denied", "count", (json_int_t)7,
				  "example");
	json_t *events = json_array();
	char *page = render(events, stats);
	assert_non_null(strstr(page, "<b>7</b> rejected."));
	const char *rej = strstr(page, "<h3>Rejections (at SMTP time)</h3>");
	assert_non_null(rej);
	assert_non_null(strstr(rej, "<td class=\"num\">7</td><td>relay_denied</td>"));
	free(page);
	json_decref(events);
	json_decref(stats);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_detail_as_key_value),
		cmocka_unit_test(test_rejections_shown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

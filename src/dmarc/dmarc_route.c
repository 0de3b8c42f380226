/*
 * dmarc_route: the fix for a route failing DMARC (see dmarc_route.h).
 */
#include "dmarc/dmarc_route.h"

#include <string.h>

#include "core/config.h"

const char *dmarc_route_fix(const struct config *cf, const char *route, int spf_short, int dkim_short)
{
	const struct route_conf *rc = NULL;
	for (size_t i = 0; i < cf->nroutes; i++)
		if (strcmp(cf->routes[i].name, route) == 0)
			rc = &cf->routes[i];
	if (rc && rc->type == ROUTE_RELAY && spf_short)
		return cf->ndkim ? "mail through this relay fails SPF alignment: set a custom MAIL FROM domain "
				   "at the provider, or rely on DKIM (check the key is published: outpost dkim show)"
				 : "mail through this relay fails SPF alignment: set a custom MAIL FROM domain "
				   "at the provider, or rely on DKIM (none is configured: outpost dkim keygen)";
	if (dkim_short && cf->ndkim == 0)
		return "sign with DKIM (dkim = ( { domain; selector; key; } ); outpost dkim keygen): "
		       "aligned DKIM passes DMARC whatever the path";
	if (spf_short)
		return "add the route's source addresses to the domain's SPF record (outpost doctor DOMAIN "
		       "prints the record)";
	return "check the DKIM key is published and matches (outpost dkim show)";
}

/* ISC license. */

/*
 * Fuzz target: pre-resolved routes, mxk_mx_parse_static() ("--mx
 * HOST[:PREF][=ADDR,...]"), and the plan built from them.
 *
 * Input: up to four specifications, one per line (the parser takes C
 * strings: a NUL ends the input).  Each is parsed and checked against
 * mx.h (A-label host that passes mxk_addr_check_host(), preference 0-65535,
 * at most MXK_MX_STATIC_ADDRS addresses of family AF_INET or AF_INET6,
 * errors of class USAGE).  The ones that parse become a static plan
 * (mxk_mx_plan_hosts, _finish), which must list them in preference order
 * with their addresses as targets, no address twice.
 *
 * fuzz-args: -max_len=2048
 */

#include <sys/socket.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "err.h"
#include "mx.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c) do {							\
	if (!(c)) {							\
		(void)fprintf(stderr, "invariant failed: %s (%s:%d)\n",	\
		    #c, __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

#define NSPEC	4

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mxk_mx_static	 st[NSPEC];
	struct mxk_mx_params	 p;
	struct mxk_mx_plan	*pl;
	struct mxk_err		 e;
	char			*buf, *line, *nl;
	size_t			 n = 0, i, j, naddr = 0;

	if ((buf = malloc(size + 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (line = buf; line != NULL && n < NSPEC; line = nl) {
		char	*spec;
		size_t	 len;

		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		/* An exactly sized copy of the line. */
		len = strlen(line);
		if ((spec = malloc(len + 1)) == NULL)
			abort();
		memcpy(spec, line, len + 1);
		if (mxk_mx_parse_static(spec, &st[n], &e) == 0) {
			struct mxk_mx_static *s = &st[n];

			CHECK(memchr(s->host, '\0', sizeof(s->host)) != NULL);
			CHECK(mxk_addr_check_host(s->host, strlen(s->host),
			    NULL) == 0);
			CHECK(s->pref <= 65535);
			CHECK(s->naddr <= MXK_MX_STATIC_ADDRS);
			for (i = 0; i < s->naddr; i++) {
				CHECK(s->addr[i].ss_family == AF_INET ||
				    s->addr[i].ss_family == AF_INET6);
				CHECK(s->addrlen[i] ==
				    (s->addr[i].ss_family == AF_INET ?
				    sizeof(struct sockaddr_in) :
				    sizeof(struct sockaddr_in6)));
			}
			naddr += s->naddr;
			n++;
		} else {
			CHECK(e.class == MXK_ERR_USAGE ||
			    e.class == MXK_ERR_INTERNAL);
			CHECK(e.msg[0] != '\0');
		}
		free(spec);
	}
	free(buf);
	if (n == 0)
		return 0;

	memset(&p, 0, sizeof(p));
	CHECK(mxk_mx_plan_hosts("static.test", NULL, st, n, &p, &pl, &e) == 0);
	CHECK(pl->from_static && pl->result == MXK_MX_OK && pl->nhost == n);
	for (i = 1; i < pl->nhost; i++)
		CHECK(pl->host[i - 1].pref <= pl->host[i].pref);
	CHECK(mxk_mx_plan_finish(pl, &p, &e) == 0);
	CHECK(pl->ntarget <= naddr);
	for (i = 0; i < pl->ntarget; i++) {
		const struct mxk_mx_host *h = pl->target[i].udata;

		CHECK(h >= pl->host && h < pl->host + pl->nhost);
		CHECK(h->is_static);
		for (j = 0; j < i; j++)
			CHECK(memcmp(&pl->target[j].addr, &pl->target[i].addr,
			    sizeof(pl->target[i].addr)) != 0);
	}
	mxk_mx_plan_free(pl);
	return 0;
}

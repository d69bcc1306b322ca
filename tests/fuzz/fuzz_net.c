/* ISC license. */

/*
 * Fuzz target: the command-line address parsers of lib/net,
 * mxk_net_parse_hostport() and mxk_net_parse_proxy().
 *
 * Input: a string (the parsers take C strings, so it ends at its first
 * NUL).  mxk_net_parse_hostport() gets it with exactly sized host buffers
 * of MXK_NET_HOSTMAX, 16 and 1 octets; mxk_net_parse_proxy() gets it as is
 * and behind "socks5h://".  Results are checked against net.h: host not
 * empty and NUL-terminated within its buffer, no brackets left, a port in
 * 1-65535 (or the default), errors of class USAGE.
 *
 * fuzz-args: -max_len=1024
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "net.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c) do {							\
	if (!(c)) {							\
		(void)fprintf(stderr, "invariant failed: %s (%s:%d)\n",	\
		    #c, __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

#define TERMINATED(a)	(memchr((a), '\0', sizeof(a)) != NULL)

static void
hostport(const char *s, size_t hostlen)
{
	struct mxk_err	 e;
	char		*host;
	int		 port = -7;

	if ((host = malloc(hostlen)) == NULL)
		abort();
	if (mxk_net_parse_hostport(s, host, hostlen, &port, 25, &e) == 0) {
		CHECK(memchr(host, '\0', hostlen) != NULL);
		CHECK(host[0] != '\0');
		CHECK(strpbrk(host, "[]") == NULL);
		CHECK(port >= 1 && port <= 65535);
		CHECK(strstr(s, host) != NULL);
	} else {
		CHECK(e.class == MXK_ERR_USAGE);
		CHECK(e.msg[0] != '\0');
	}
	free(host);
}

static void
proxy(const char *s)
{
	struct mxk_net_proxy	px;
	struct mxk_err		e;

	if (mxk_net_parse_proxy(s, &px, &e) == 0) {
		CHECK(TERMINATED(px.host) && TERMINATED(px.user) &&
		    TERMINATED(px.pass));
		CHECK(px.host[0] != '\0');
		CHECK(px.port >= 1 && px.port <= 65535);
		CHECK(px.remote_dns == 0 || px.remote_dns == 1);
		if (px.pass[0] != '\0')
			CHECK(px.user[0] != '\0');
	} else {
		CHECK(e.class == MXK_ERR_USAGE);
		CHECK(e.msg[0] != '\0');
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s, *url;
	size_t	 n;

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	n = strlen(s);

	hostport(s, MXK_NET_HOSTMAX);
	hostport(s, 16);
	hostport(s, 1);
	proxy(s);

	if ((url = malloc(n + 11)) == NULL)
		abort();
	memcpy(url, "socks5h://", 10);
	memcpy(url + 10, s, n + 1);
	proxy(url);
	free(url);
	free(s);
	return 0;
}

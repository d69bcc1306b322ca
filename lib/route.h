/* ISC license. */

/*
 * route: reach a mail exchanger along a route plan (lib/mx).
 *
 * mxk_route_connect() races the plan's targets with mxk_net_connect()
 * (staggered attempts, RFC 8305 style) and, on each connection, looks at
 * the SMTP greeting without consuming it (recv with MSG_PEEK): a 4xx or 5xx
 * greeting, a malformed one, or none before greeting_timeout_ms makes that
 * attempt fail and the race go on with the next MX (RFC 5321 §3.1 lets a
 * server refuse with 554 at greeting; a client then tries another MX).
 * The greeting stays in the socket, so a program exec'd on it (UCSPI) or
 * the SMTP client engine reads it as usual.
 *
 * Through a SOCKS5 proxy the hosts are tried one at a time in plan order;
 * with remote_dns (socks5h) the MX host names are sent to the proxy and
 * the plan need not have addresses.
 *
 * When every attempt failed, the error is MXK_ERR_PERM (5.x.x from the
 * last greeting) when every host that answered refused permanently and
 * none failed otherwise, else MXK_ERR_TEMP.
 */
#ifndef MXK_ROUTE_H
#define MXK_ROUTE_H

#include <sys/socket.h>
#include <stddef.h>

#include "err.h"
#include "mx.h"
#include "net.h"
#include "reply.h"

struct mxk_route_params {
	struct mxk_net_params	 net;		/* mxk_net_params_init() */
	int			 check_greeting; /* peek at the 220 */
	int			 greeting_timeout_ms; /* 0: 300000 */
	const struct mxk_net_proxy *proxy;	/* NULL: direct */
	const struct sockaddr	*proxy_sa;	/* the proxy's address */
	socklen_t		 proxy_salen;
	int			 port;		/* for proxy mode; 0: 25 */
};

struct mxk_route_result {
	struct mxk_net_attempt	*att;		/* caller's array */
	size_t			 natt;		/* in: capacity; out: used */
	size_t			 winner;	/* index into plan->target, or
						 * host index with a proxy */
	const char		*host;		/* winner's MX host name */
	unsigned		 pref;
	enum mxk_dnssec		 dnssec;	/* winner's address records */
	int			 fd;		/* connected, non-blocking */
	int			 have_greeting;
	struct mxk_reply	 greeting;
	size_t			 nperm;		/* attempts refused with 5xx */
	size_t			 ntemp;		/* other failures */
	size_t			 nproto;	/* of which malformed greetings */
};

void	 mxk_route_params_init(struct mxk_route_params *);

int	 mxk_route_connect(const struct mxk_mx_plan *,
	    const struct mxk_route_params *, struct mxk_route_result *,
	    struct mxk_err *);

/*
 * Wait for a complete reply to be readable on fd without consuming it.
 * 1 with *r filled; -1 with e filled (timeout and EOF 4.4.2 TEMP,
 * malformed 5.5.0 PROTO).
 */
int	 mxk_route_peek_reply(int fd, long long deadline, struct mxk_reply *r,
	    struct mxk_err *);

#endif

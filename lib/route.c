/* ISC license. */

#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "mx.h"
#include "net.h"
#include "reply.h"
#include "route.h"

#define PEEK_MAX	4096	/* a greeting longer than this is refused */

struct hook_ctx {
	const struct mxk_route_params	*rp;
	struct mxk_route_result		*res;
	int				 last_code;
};

void
mxk_route_params_init(struct mxk_route_params *rp)
{
	memset(rp, 0, sizeof(*rp));
	mxk_net_params_init(&rp->net);
	rp->check_greeting = 1;
	rp->greeting_timeout_ms = 300000;
}

int
mxk_route_peek_reply(int fd, long long deadline, struct mxk_reply *r,
    struct mxk_err *e)
{
	char	buf[PEEK_MAX];
	ssize_t	n;
	size_t	used;
	int	w, got;

	for (;;) {
		if ((w = mxk_net_wait(fd, POLLIN, deadline)) == 0)
			return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_NET,
			    "4.4.2", "timed out waiting for the greeting");
		if (w < 0)
			return mxk_err_sys(e, MXK_ERR_TEMP, "poll");
		n = recv(fd, buf, sizeof(buf), MSG_PEEK);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			(void)mxk_err_sys(e, MXK_ERR_TEMP,
			    "reading the greeting");
			e->source = MXK_SRC_NET;
			(void)snprintf(e->status, sizeof(e->status), "4.4.2");
			return -1;
		}
		if (n == 0)
			return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_NET,
			    "4.4.2", "connection closed before the greeting");
		got = mxk_reply_parse(buf, (size_t)n, NULL, r, &used, e);
		if (got == 1)
			return 1;
		if (got == -1) {
			mxk_err_prefix(e, "greeting");
			return -1;
		}
		if ((size_t)n == sizeof(buf))
			return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_SMTP,
			    "5.5.0", "greeting longer than %d octets",
			    PEEK_MAX);
		/*
		 * A partial reply: poll() would report the same bytes at
		 * once, so pause briefly before looking again; unless the
		 * server has closed its end, when no more will come.
		 */
		{
			struct pollfd	hp = { fd, POLLRDHUP, 0 };

			if (poll(&hp, 1, 0) == 1 &&
			    (hp.revents & (POLLRDHUP | POLLHUP)) != 0)
				return mxk_err_set(e, MXK_ERR_TEMP,
				    MXK_SRC_NET, "4.4.2", "connection closed "
				    "in the middle of the greeting");
		}
		(void)poll(NULL, 0, mxk_ms_left(deadline) < 10 ?
		    mxk_ms_left(deadline) : 10);
		if (mxk_ms_left(deadline) == 0)
			return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_NET,
			    "4.4.2", "timed out waiting for the greeting");
	}
}

static int
check_greeting(struct hook_ctx *hc, int fd, long long deadline,
    struct mxk_err *e)
{
	const struct mxk_route_params	*rp = hc->rp;
	struct mxk_route_result		*res = hc->res;
	long long			 gd;
	char				 first[256];

	gd = mxk_deadline_in(rp->greeting_timeout_ms > 0 ?
	    rp->greeting_timeout_ms : 300000);
	if (gd > deadline)
		gd = deadline;
	hc->last_code = 0;
	if (mxk_route_peek_reply(fd, gd, &res->greeting, e) == -1) {
		res->ntemp++;
		if (e->class == MXK_ERR_PROTO)
			res->nproto++;
		return -1;
	}
	hc->last_code = res->greeting.code;
	if (res->greeting.code == 220) {
		res->have_greeting = 1;
		return 0;
	}
	(void)mxk_reply_first_line(&res->greeting, first, sizeof(first));
	(void)mxk_err_smtp(e, res->greeting.code, res->greeting.status,
	    MXK_ERR_PERM, first);
	mxk_err_prefix(e, "greeting %d %s", res->greeting.code,
	    res->greeting.status);
	if (res->greeting.code / 100 == 5)
		res->nperm++;
	else
		res->ntemp++;
	return -1;
}

static int
hook(int fd, const struct mxk_net_target *t, void *arg, long long deadline,
    struct mxk_err *e)
{
	(void)t;
	return check_greeting(arg, fd, deadline, e);
}

static int
host_has_usable(const struct mxk_mx_host *h)
{
	size_t	j;

	for (j = 0; j < h->naddr; j++)
		if (h->addr[j].skip == MXK_MX_USABLE)
			return 1;
	return 0;
}

/*
 * Connect to the proxy and ask it for host:port, with RFC 1929
 * credentials when the proxy URL has them.
 */
static int
proxy_open(const struct mxk_route_params *rp, const char *host, int port,
    long long deadline, int *fd, struct mxk_err *e)
{
	struct mxk_net_target	t;
	struct mxk_net_params	np;
	struct mxk_net_attempt	a;
	size_t			na = 1, w;
	const char		*user = NULL, *pass = NULL;

	if (rp->proxy->user[0] == '\0')
		return mxk_net_socks5_connect(rp->proxy_sa, rp->proxy_salen,
		    host, port, deadline, fd, e);
	memset(&t, 0, sizeof(t));
	memcpy(&t.addr, rp->proxy_sa, rp->proxy_salen);
	t.addrlen = rp->proxy_salen;
	t.host = "proxy";
	mxk_net_params_init(&np);
	np.deadline = deadline;
	np.attempt_delay_ms = 0;
	if (mxk_net_connect(&t, 1, &np, &a, &na, &w, fd, e) == -1)
		return -1;
	user = rp->proxy->user;
	pass = rp->proxy->pass;
	if (mxk_net_socks5_handshake(*fd, host, port, user, pass, deadline,
	    e) == -1) {
		(void)close(*fd);
		*fd = -1;
		return -1;
	}
	return 0;
}

static void
finish_error(struct mxk_route_result *res, size_t ntried, struct mxk_err *e)
{
	/*
	 * Permanent only when every attempt reached a server and each one
	 * refused with 5xx: anything else may work later.
	 */
	if (res->nperm > 0 && res->nperm == ntried) {
		e->class = MXK_ERR_PERM;
		(void)snprintf(e->status, sizeof(e->status), "5.0.0");
	}
	/*
	 * Every server reached answered something that is not SMTP (a
	 * binary stream, an HTTP response): a protocol error, as a
	 * malformed reply later in the session is, not "unreachable".
	 */
	if (res->nproto > 0 && res->nproto == ntried) {
		e->class = MXK_ERR_PROTO;
		(void)snprintf(e->status, sizeof(e->status), "5.5.0");
	}
}

static int
connect_proxy(const struct mxk_mx_plan *pl, const struct mxk_route_params *rp,
    struct mxk_route_result *res, struct mxk_err *e)
{
	struct hook_ctx	 hc = { rp, res, 0 };
	size_t		 i, cap = res->natt, tried = 0;
	long long	 start = mxk_now_ms(), t0, dl;
	int		 port = rp->port > 0 ? rp->port : 25, fd = -1;
	char		 lit[MXK_NET_ADDRSTRLEN];
	struct mxk_err	 last;

	mxk_err_clear(&last);
	res->natt = 0;
	for (i = 0; i < pl->nhost; i++) {
		const struct mxk_mx_host	*h = &pl->host[i];
		const char			*name = h->name;
		struct mxk_net_attempt		*a = NULL;

		if (rp->proxy->remote_dns) {
			if (h->skip != MXK_MX_USABLE &&
			    h->skip != MXK_MX_SKIP_NOADDR &&
			    h->skip != MXK_MX_SKIP_LOOKUP)
				continue;
			/*
			 * The proxy resolves the name, so our address filters
			 * cannot see what it connects to.  When we did resolve
			 * the host and every address was filtered out
			 * (--block-local, --ignore-host), do not send the name
			 * either.
			 */
			if (h->naddr > 0 && !host_has_usable(h))
				continue;
		} else {
			if (h->skip != MXK_MX_USABLE || h->naddr == 0 ||
			    h->addr[0].skip != MXK_MX_USABLE)
				continue;
			name = mxk_net_addr_str(
			    (const struct sockaddr *)&h->addr[0].sa, lit,
			    sizeof(lit));
		}
		if (res->natt < cap) {
			a = &res->att[res->natt++];
			memset(a, 0, sizeof(*a));
			a->target = i;
			a->connect_ms = -1;
			if (snprintf(a->addr, sizeof(a->addr),
			    strchr(name, ':') != NULL ? "[%s]:%d" : "%s:%d",
			    name, port) >= (int)sizeof(a->addr))
				a->addr[sizeof(a->addr) - 1] = '\0';
		}
		t0 = mxk_now_ms();
		dl = mxk_deadline_in(rp->net.connect_timeout_ms > 0 ?
		    rp->net.connect_timeout_ms : 30000);
		if (dl > rp->net.deadline)
			dl = rp->net.deadline;
		tried++;
		if (a != NULL)
			a->started_ms = t0 - start;
		if (proxy_open(rp, name, port, dl, &fd, &last) == 0) {
			if (a != NULL)
				a->connect_ms = mxk_now_ms() - t0;
			if (!rp->check_greeting ||
			    check_greeting(&hc, fd, rp->net.deadline,
			    &last) == 0) {
				if (a != NULL) {
					a->outcome = MXK_NET_CONNECTED;
					a->elapsed_ms = mxk_now_ms() - t0;
					(void)snprintf(a->detail,
					    sizeof(a->detail), "connected "
					    "through the proxy in %lld ms",
					    a->connect_ms);
				}
				res->winner = i;
				res->host = h->name;
				res->pref = h->pref;
				res->dnssec = h->dnssec;
				res->fd = fd;
				return 0;
			}
			(void)close(fd);
			if (a != NULL)
				a->outcome = MXK_NET_REJECTED;
		} else {
			res->ntemp++;
			if (a != NULL)
				a->outcome = MXK_NET_ERROR;
		}
		if (a != NULL) {
			a->elapsed_ms = mxk_now_ms() - t0;
			(void)snprintf(a->detail, sizeof(a->detail), "%.*s",
			    (int)sizeof(a->detail) - 1, last.msg);
		}
		mxk_log(MXK_LOG_INFO, "%s via proxy: %s", name, last.msg);
		if (mxk_ms_left(rp->net.deadline) == 0)
			break;
	}
	if (tried == 0)
		return mxk_err_set(e, MXK_ERR_PERM, MXK_SRC_NET, "5.4.4",
		    "no usable MX host to try through the proxy");
	*e = last;
	mxk_err_prefix(e, "no MX host reachable through the proxy (%zu "
	    "tried); last", tried);
	finish_error(res, tried, e);
	return -1;
}

int
mxk_route_connect(const struct mxk_mx_plan *pl,
    const struct mxk_route_params *rp, struct mxk_route_result *res,
    struct mxk_err *e)
{
	struct mxk_net_params	 np = rp->net;
	struct hook_ctx		 hc = { rp, res, 0 };
	size_t			 winner = 0;
	int			 fd = -1;

	res->fd = -1;
	res->have_greeting = 0;
	res->nperm = res->ntemp = res->nproto = 0;
	if (rp->proxy != NULL)
		return connect_proxy(pl, rp, res, e);
	if (pl->ntarget == 0) {
		res->natt = 0;
		return mxk_err_set(e, MXK_ERR_PERM, MXK_SRC_NET, "5.4.4",
		    "no address to connect to");
	}
	if (rp->check_greeting) {
		np.post_connect = hook;
		np.post_arg = &hc;
	}
	if (mxk_net_connect(pl->target, pl->ntarget, &np, res->att,
	    &res->natt, &winner, &fd, e) == -1) {
		size_t i, tried = 0;

		for (i = 0; i < res->natt; i++)
			if (res->att[i].outcome != MXK_NET_ABORTED)
				tried++;
		finish_error(res, tried, e);
		return -1;
	}
	res->winner = winner;
	res->fd = fd;
	res->host = pl->target[winner].host;
	res->pref = (unsigned)pl->target[winner].pref;
	res->dnssec = ((const struct mxk_mx_host *)
	    pl->target[winner].udata)->dnssec;
	return 0;
}

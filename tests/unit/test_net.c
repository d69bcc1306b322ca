/* ISC license. */

/*
 * net tests, on loopback only (127.0.0.1, ::1).  Every wait is bounded;
 * timing checks are loose (a noisy shared machine).
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <ifaddrs.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "log.h"
#include "net.h"
#include "t.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static int	log_lines;

static void
count_sink(void *ctx, enum mxk_log_level l, const char *line)
{
	log_lines++;
}

/* A listening socket on loopback with an ephemeral port. */
static int
listener(int family, int backlog, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)ss;
	int			 fd, one = 1;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(*s4);
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		*len = sizeof(*s6);
	}
	if ((fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)ss, *len) == -1 ||
	    listen(fd, backlog) == -1 ||
	    getsockname(fd, (struct sockaddr *)ss, len) == -1) {
		(void)close(fd);
		return -1;
	}
	return fd;
}

/* An address on 127.0.0.1 where nothing listens. */
static int
closed_port(struct sockaddr_storage *ss, socklen_t *len)
{
	int	fd;

	if ((fd = listener(AF_INET, 1, ss, len)) == -1)
		return -1;
	(void)close(fd);
	return 0;
}

static void
set_target(struct mxk_net_target *t, const struct sockaddr_storage *ss,
    socklen_t len, const char *host)
{
	memset(t, 0, sizeof(*t));
	memcpy(&t->addr, ss, len);
	t->addrlen = len;
	t->host = host;
}

static void
params(struct mxk_net_params *p, int ctimeout, int delay, long long total)
{
	mxk_net_params_init(p);
	p->connect_timeout_ms = ctimeout;
	p->attempt_delay_ms = delay;
	p->deadline = mxk_deadline_in(total);
}

static void
test_defaults(void)
{
	struct mxk_net_params	p;

	mxk_net_params_init(&p);
	T_EQ_INT(p.connect_timeout_ms, 30000, "default connect timeout");
	T_EQ_INT(p.attempt_delay_ms, 500, "default attempt delay");
	T_OK(p.deadline == MXK_DEADLINE_NONE, "default deadline none");
	T_OK(p.post_connect == NULL && p.local4 == NULL, "default hooks");
	T_EQ_STR(mxk_net_outcome_name(MXK_NET_TIMEOUT), "timeout", "name");
	T_EQ_STR(mxk_net_outcome_name(MXK_NET__COUNT), "unknown", "name oob");
}

static void
test_connect_live(void)
{
	struct sockaddr_storage	 ss, peer;
	socklen_t		 len, plen = sizeof(peer);
	struct mxk_net_target	 t[1];
	struct mxk_net_params	 p;
	struct mxk_net_attempt	 att[4];
	struct mxk_err		 e;
	struct mxk_conn		*c;
	struct mxk_buf		 in;
	size_t			 natt = NELEM(att), w = 99, ll;
	char			*line;
	int			 lfd, fd = -1, sfd, before = log_lines;

	if ((lfd = listener(AF_INET, 8, &ss, &len)) == -1) {
		T_OK(0, "listener: %s", strerror(errno));
		return;
	}
	set_target(&t[0], &ss, len, "live.test");
	params(&p, 2000, 200, 4000);
	T_EQ_INT(mxk_net_connect(t, 1, &p, att, &natt, &w, &fd, &e), 0,
	    "live connect");
	T_EQ_INT(w, 0, "live winner");
	T_EQ_INT(natt, 1, "live attempts");
	T_EQ_INT(att[0].outcome, MXK_NET_CONNECTED, "live outcome");
	T_OK(att[0].connect_ms >= 0 && att[0].connect_ms < 2000,
	    "live connect_ms %lld", att[0].connect_ms);
	T_OK(strncmp(att[0].addr, "127.0.0.1:", 10) == 0, "live addr %s",
	    att[0].addr);
	T_OK(log_lines > before, "connect logs");
	T_EQ_INT(e.class, MXK_ERR_OK, "live err cleared");
	if (fd == -1) {
		(void)close(lfd);
		return;
	}

	/* The socket carries data through a conn. */
	sfd = accept(lfd, (struct sockaddr *)&peer, &plen);
	T_OK(sfd != -1, "accept");
	T_OK(write(sfd, "220 hi\r\n", 8) == 8, "server write");
	c = mxk_conn_new_fd(fd);
	mxk_buf_init(&in, 4096);
	T_EQ_INT(mxk_conn_readline(c, &in, 512, &line, &ll,
	    mxk_deadline_in(2000), &e), 1, "greeting line");
	T_OK(ll == 8 && memcmp(line, "220 hi\r\n", 8) == 0, "greeting text");
	mxk_buf_consume(&in, ll);
	T_EQ_INT(mxk_conn_write_all(c, "QUIT\r\n", 6, mxk_deadline_in(2000),
	    &e), 0, "conn write");
	{
		char	b[16];

		T_EQ_INT(read(sfd, b, sizeof(b)), 6, "server got QUIT");
	}
	(void)close(sfd);
	T_EQ_INT(mxk_conn_readline(c, &in, 512, &line, &ll,
	    mxk_deadline_in(2000), &e), 0, "EOF after close");
	mxk_buf_free(&in);
	mxk_conn_free(c);
	(void)close(lfd);

	/* IPv6 loopback, when the machine has it. */
	if ((lfd = listener(AF_INET6, 8, &ss, &len)) == -1) {
		(void)printf("skip: no ::1 (%s)\n", strerror(errno));
		return;
	}
	set_target(&t[0], &ss, len, NULL);
	natt = NELEM(att);
	T_EQ_INT(mxk_net_connect(t, 1, &p, att, &natt, &w, &fd, &e), 0,
	    "v6 connect");
	T_OK(strncmp(att[0].addr, "[::1]:", 6) == 0, "v6 addr %s", att[0].addr);
	if (fd != -1)
		(void)close(fd);
	(void)close(lfd);
}

static void
test_refused(void)
{
	struct sockaddr_storage	 ss0, ss1, ss2;
	socklen_t		 l0, l1, l2;
	struct mxk_net_target	 t[3];
	struct mxk_net_params	 p;
	struct mxk_net_attempt	 att[3];
	struct mxk_err		 e;
	size_t			 natt = NELEM(att), w = 99;
	long long		 t0, el;
	int			 lfd, fd = -1;

	if (closed_port(&ss0, &l0) == -1 || closed_port(&ss2, &l2) == -1 ||
	    (lfd = listener(AF_INET, 8, &ss1, &l1)) == -1) {
		T_OK(0, "setup: %s", strerror(errno));
		return;
	}
	set_target(&t[0], &ss0, l0, "refused.test");
	set_target(&t[1], &ss1, l1, "live.test");
	/* A long delay: moving on must not wait for it. */
	params(&p, 3000, 3000, 4000);
	t0 = mxk_now_ms();
	T_EQ_INT(mxk_net_connect(t, 2, &p, att, &natt, &w, &fd, &e), 0,
	    "refused then live");
	el = mxk_now_ms() - t0;
	T_EQ_INT(w, 1, "refused: winner");
	T_EQ_INT(natt, 2, "refused: attempts");
	T_EQ_INT(att[0].outcome, MXK_NET_REFUSED, "refused: outcome 0");
	T_EQ_INT(att[0].sys_errno, ECONNREFUSED, "refused: errno");
	T_EQ_INT(att[1].outcome, MXK_NET_CONNECTED, "refused: outcome 1");
	T_OK(el < 1500, "refused: moved on at once (%lld ms)", el);
	if (fd != -1)
		(void)close(fd);
	(void)close(lfd);

	/* Every target refused: a summary, temporary, 4.4.1. */
	set_target(&t[1], &ss2, l2, NULL);
	natt = NELEM(att);
	T_EQ_INT(mxk_net_connect(t, 2, &p, att, &natt, &w, &fd, &e), -1,
	    "all refused");
	T_EQ_INT(fd, -1, "all refused: no fd");
	T_EQ_INT(natt, 2, "all refused: attempts");
	T_EQ_INT(e.class, MXK_ERR_TEMP, "all refused: temp");
	T_EQ_INT(e.source, MXK_SRC_NET, "all refused: source");
	T_EQ_STR(e.status, "4.4.1", "all refused: status");
	T_OK(strstr(e.msg, "2 attempts (2 refused)") != NULL,
	    "all refused: msg %s", e.msg);

	/* Capacity smaller than the attempts: stored count is bounded. */
	natt = 1;
	T_EQ_INT(mxk_net_connect(t, 2, &p, att, &natt, &w, &fd, &e), -1,
	    "small capacity");
	T_EQ_INT(natt, 1, "small capacity: stored");
	T_EQ_INT(mxk_net_connect(t, 0, &p, NULL, NULL, &w, &fd, &e), -1,
	    "no targets");
	T_EQ_INT(e.class, MXK_ERR_USAGE, "no targets: usage");
}

static void
test_local_bind(void)
{
	struct sockaddr_storage	 ss, lss, got;
	socklen_t		 len, glen = sizeof(got);
	struct sockaddr_in	*l4 = (struct sockaddr_in *)&lss;
	struct mxk_net_target	 t[2];
	struct mxk_net_params	 p;
	struct mxk_net_attempt	 att[2];
	struct mxk_err		 e;
	size_t			 natt = NELEM(att), w = 99;
	char			 b[MXK_NET_ADDRSTRLEN];
	int			 lfd, fd = -1;

	if ((lfd = listener(AF_INET, 8, &ss, &len)) == -1) {
		T_OK(0, "listener: %s", strerror(errno));
		return;
	}
	memset(&lss, 0, sizeof(lss));
	l4->sin_family = AF_INET;
	(void)inet_pton(AF_INET, "127.0.0.2", &l4->sin_addr);
	set_target(&t[0], &ss, len, NULL);
	params(&p, 2000, 200, 4000);
	p.local4 = (struct sockaddr *)&lss;
	p.local4len = sizeof(*l4);
	T_EQ_INT(mxk_net_connect(t, 1, &p, att, &natt, &w, &fd, &e), 0,
	    "local bind connect");
	if (fd != -1) {
		T_OK(getsockname(fd, (struct sockaddr *)&got, &glen) == 0,
		    "getsockname");
		T_EQ_STR(mxk_net_addr_str((struct sockaddr *)&got, b,
		    sizeof(b)), "127.0.0.2", "bound source address");
		(void)close(fd);
	}

	/*
	 * An address this host does not have: bind fails before any packet
	 * is sent, and the next target (an unsupported family) fails too.
	 */
	(void)inet_pton(AF_INET, "192.0.2.99", &l4->sin_addr);
	memset(&t[1], 0, sizeof(t[1]));
	t[1].addr.ss_family = AF_UNIX;
	t[1].addrlen = sizeof(struct sockaddr);
	natt = NELEM(att);
	T_EQ_INT(mxk_net_connect(t, 2, &p, att, &natt, &w, &fd, &e), -1,
	    "bad local bind");
	T_EQ_INT(att[0].outcome, MXK_NET_ERROR, "bad bind outcome");
	T_OK(strncmp(att[0].detail, "bind to 192.0.2.99:", 19) == 0,
	    "bad bind detail %s", att[0].detail);
	T_EQ_INT(att[1].outcome, MXK_NET_ERROR, "unsupported family outcome");
	T_OK(strstr(e.msg, "2 error") != NULL, "bad bind msg %s", e.msg);
	(void)close(lfd);

	/* SOCKS5 proxy that is not there. */
	if (closed_port(&ss, &len) == 0) {
		T_EQ_INT(mxk_net_socks5_connect((struct sockaddr *)&ss, len,
		    "mx.example.test", 25, mxk_deadline_in(2000), &fd, &e), -1,
		    "socks5 proxy down");
		T_OK(strncmp(e.msg, "SOCKS5 proxy 127.0.0.1:", 23) == 0,
		    "socks5 proxy down msg %s", e.msg);
		T_EQ_STR(e.status, "4.4.1", "socks5 proxy down status");
	}
}

/*
 * A target whose connect hangs: a listener with backlog 0 whose accept
 * queue already holds one connection; Linux drops further SYNs.  Returns
 * -1 when this kernel does not behave so (the cases are skipped).
 */
static int
stuck_target(struct sockaddr_storage *ss, socklen_t *len, int *lfd,
    int *filler)
{
	int	pr;

	*filler = -1;
	if ((*lfd = listener(AF_INET, 0, ss, len)) == -1)
		return -1;
	if ((*filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		goto fail;
	if (connect(*filler, (struct sockaddr *)ss, *len) == -1 &&
	    errno != EINPROGRESS)
		goto fail;
	if (mxk_net_wait(*filler, POLLOUT, mxk_deadline_in(1000)) <= 0)
		goto fail;
	if ((pr = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		goto fail;
	if (connect(pr, (struct sockaddr *)ss, *len) == 0 ||
	    mxk_net_wait(pr, POLLOUT, mxk_deadline_in(150)) != 0) {
		(void)close(pr);
		goto fail;
	}
	(void)close(pr);
	return 0;
fail:
	if (*filler != -1)
		(void)close(*filler);
	(void)close(*lfd);
	return -1;
}

static void
test_stagger(void)
{
	struct sockaddr_storage	 ss0, ss1;
	socklen_t		 l0, l1;
	struct mxk_net_target	 t[2];
	struct mxk_net_params	 p;
	struct mxk_net_attempt	 att[2];
	struct mxk_err		 e;
	size_t			 natt = NELEM(att), w = 99;
	long long		 t0, el;
	int			 slfd, filler, lfd, fd = -1;

	if (stuck_target(&ss0, &l0, &slfd, &filler) == -1) {
		(void)printf("skip: full accept queue does not hold SYNs here; "
		    "stagger cases skipped\n");
		return;
	}
	if ((lfd = listener(AF_INET, 8, &ss1, &l1)) == -1) {
		T_OK(0, "listener: %s", strerror(errno));
		goto out;
	}
	set_target(&t[0], &ss0, l0, "stuck.test");
	set_target(&t[1], &ss1, l1, "live.test");

	/* Staggered: the second starts after 200 ms and wins. */
	params(&p, 3000, 200, 4000);
	t0 = mxk_now_ms();
	T_EQ_INT(mxk_net_connect(t, 2, &p, att, &natt, &w, &fd, &e), 0,
	    "stagger connect");
	el = mxk_now_ms() - t0;
	T_EQ_INT(w, 1, "stagger: winner");
	T_EQ_INT(natt, 2, "stagger: attempts");
	T_EQ_INT(att[0].outcome, MXK_NET_ABORTED, "stagger: first aborted");
	T_EQ_INT(att[1].outcome, MXK_NET_CONNECTED, "stagger: second won");
	T_OK(att[1].started_ms >= 150, "stagger: second started at %lld ms",
	    att[1].started_ms);
	T_OK(el >= 150 && el < 2000, "stagger: took %lld ms", el);
	if (fd != -1)
		(void)close(fd);

	/* One at a time: the first times out after 300 ms. */
	params(&p, 300, 0, 4000);
	natt = NELEM(att);
	t0 = mxk_now_ms();
	T_EQ_INT(mxk_net_connect(t, 2, &p, att, &natt, &w, &fd, &e), 0,
	    "serial connect");
	el = mxk_now_ms() - t0;
	T_EQ_INT(w, 1, "serial: winner");
	T_EQ_INT(att[0].outcome, MXK_NET_TIMEOUT, "serial: first timed out");
	T_OK(att[0].elapsed_ms >= 250 && att[0].elapsed_ms < 2000,
	    "serial: timeout after %lld ms", att[0].elapsed_ms);
	T_OK(att[1].started_ms >= 250, "serial: second started at %lld ms",
	    att[1].started_ms);
	T_OK(el < 2000, "serial: took %lld ms", el);
	if (fd != -1)
		(void)close(fd);

	/* The overall deadline bounds a hanging attempt. */
	params(&p, 5000, 0, 200);
	natt = NELEM(att);
	t0 = mxk_now_ms();
	T_EQ_INT(mxk_net_connect(t, 1, &p, att, &natt, &w, &fd, &e), -1,
	    "deadline");
	el = mxk_now_ms() - t0;
	T_EQ_INT(att[0].outcome, MXK_NET_TIMEOUT, "deadline: timed out");
	T_OK(el >= 150 && el < 1500, "deadline: took %lld ms", el);
	T_EQ_STR(e.status, "4.4.1", "deadline: status");
	T_OK(strstr(e.msg, "1 timeout") != NULL, "deadline: msg %s", e.msg);
	(void)close(lfd);
out:
	(void)close(filler);
	(void)close(slfd);
}

/*
 * A post_connect hook that reads an SMTP-like greeting: the test plays the
 * server by accepting on the target's listener (udata) and sending the
 * greeting that the listener was given.
 */
struct greet {
	int		 lfd;
	const char	*greeting;
	int		 sfd;
	int		 calls;
};

static int
greet_hook(int fd, const struct mxk_net_target *t, void *arg,
    long long deadline, struct mxk_err *e)
{
	struct greet	*g = t->udata;
	int		*calls = arg;
	char		 b[128];
	size_t		 n = 0;
	ssize_t		 r;

	(*calls)++;
	g->calls++;
	if ((g->sfd = accept(g->lfd, NULL, NULL)) == -1)
		return mxk_err_sys(e, MXK_ERR_TEMP, "accept");
	if (write(g->sfd, g->greeting, strlen(g->greeting)) < 0)
		return mxk_err_sys(e, MXK_ERR_TEMP, "write");
	while (n < sizeof(b) - 1 && memchr(b, '\n', n) == NULL) {
		r = mxk_net_read(fd, b + n, sizeof(b) - 1 - n,
		    deadline < mxk_deadline_in(1000) ? deadline :
		    mxk_deadline_in(1000), e);
		if (r <= 0)
			return -1;
		n += (size_t)r;
	}
	b[n] = '\0';
	if (b[0] != '2') {
		b[mxk_line_trim(b, n)] = '\0';
		return mxk_err_smtp(e, 421, NULL, MXK_ERR_PERM, b);
	}
	return 0;
}

static void
test_post_connect(void)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	struct greet		 g[2] = {
		{ -1, "421 busy, try later\r\n", -1, 0 },
		{ -1, "220 welcome\r\n", -1, 0 },
	};
	struct mxk_net_target	 t[2];
	struct mxk_net_params	 p;
	struct mxk_net_attempt	 att[2];
	struct mxk_err		 e;
	size_t			 natt = NELEM(att), w = 99, i;
	int			 fd = -1, calls = 0;

	for (i = 0; i < 2; i++) {
		if ((g[i].lfd = listener(AF_INET, 8, &ss, &len)) == -1) {
			T_OK(0, "listener: %s", strerror(errno));
			return;
		}
		set_target(&t[i], &ss, len, i == 0 ? "busy.test" : "ok.test");
		t[i].udata = &g[i];
	}
	params(&p, 2000, 200, 4000);
	p.post_connect = greet_hook;
	p.post_arg = &calls;
	T_EQ_INT(mxk_net_connect(t, 2, &p, att, &natt, &w, &fd, &e), 0,
	    "hook: connect");
	T_EQ_INT(w, 1, "hook: next target used");
	T_EQ_INT(calls, 2, "hook: called twice");
	T_EQ_INT(natt, 2, "hook: attempts");
	T_EQ_INT(att[0].outcome, MXK_NET_REJECTED, "hook: first rejected");
	T_OK(strstr(att[0].detail, "421 busy") != NULL, "hook: detail %s",
	    att[0].detail);
	T_OK(att[0].connect_ms >= 0, "hook: first had connected");
	T_EQ_INT(att[1].outcome, MXK_NET_CONNECTED, "hook: second ok");
	if (fd != -1)
		(void)close(fd);
	for (i = 0; i < 2; i++)
		if (g[i].sfd != -1) {
			(void)close(g[i].sfd);
			g[i].sfd = -1;
		}

	/* Both rejected: failure, summarised. */
	g[1].greeting = "554 go away\r\n";
	natt = NELEM(att);
	T_EQ_INT(mxk_net_connect(t, 2, &p, att, &natt, &w, &fd, &e), -1,
	    "hook: all rejected");
	T_OK(strstr(e.msg, "2 rejected") != NULL &&
	    strstr(e.msg, "554 go away") != NULL, "hook: msg %s", e.msg);
	T_EQ_INT(e.class, MXK_ERR_TEMP, "hook: all rejected temp");
	for (i = 0; i < 2; i++) {
		if (g[i].sfd != -1)
			(void)close(g[i].sfd);
		(void)close(g[i].lfd);
	}
}

static void
test_hostport(void)
{
	static const struct {
		const char	*name;
		const char	*in;
		int		 ok;
		const char	*host;
		int		 port;
	} cases[] = {
		{ "name", "mx.example.test", 1, "mx.example.test", 25 },
		{ "name:port", "mx.example.test:587", 1, "mx.example.test", 587 },
		{ "v4:port", "192.0.2.1:2525", 1, "192.0.2.1", 2525 },
		{ "[v6]:port", "[2001:db8::1]:465", 1, "2001:db8::1", 465 },
		{ "[v6]", "[2001:db8::1]", 1, "2001:db8::1", 25 },
		{ "bare v6", "2001:db8::1", 1, "2001:db8::1", 25 },
		{ "bare ::1", "::1", 1, "::1", 25 },
		{ "v6 scope", "[fe80::1%lo]:25", 1, "fe80::1%lo", 25 },
		{ "v6 v4 tail", "[::ffff:192.0.2.1]", 1, "::ffff:192.0.2.1", 25 },
		/* Found by fuzz_net (tests/fuzz/regress/net/zone-brackets). */
		{ "v6 zone junk", "[fe80::1%lo::[/~]", 0, NULL, 0 },
		{ "v6 empty zone", "[fe80::1%]", 0, NULL, 0 },
		{ "bare v6 zone junk", "fe80::1%a b", 0, NULL, 0 },
		{ "empty", "", 0, NULL, 0 },
		{ "empty host", ":25", 0, NULL, 0 },
		{ "empty port", "host:", 0, NULL, 0 },
		{ "port 0", "host:0", 0, NULL, 0 },
		{ "port big", "host:65536", 0, NULL, 0 },
		{ "port sign", "host:+25", 0, NULL, 0 },
		{ "port junk", "host:25x", 0, NULL, 0 },
		{ "no ]", "[2001:db8::1:25", 0, NULL, 0 },
		{ "junk after ]", "[2001:db8::1]x", 0, NULL, 0 },
		{ "[name]", "[example.test]:25", 0, NULL, 0 },
		{ "bad bare v6", "2001:db8::zz", 0, NULL, 0 },
		{ "space", "mx example:25", 0, NULL, 0 },
		{ "slash", "mx/x:25", 0, NULL, 0 },
	};
	struct mxk_err	e;
	char		host[MXK_NET_HOSTMAX], big[400];
	size_t		i;
	int		port, r;

	for (i = 0; i < NELEM(cases); i++) {
		port = -1;
		r = mxk_net_parse_hostport(cases[i].in, host, sizeof(host),
		    &port, 25, &e);
		T_EQ_INT(r, cases[i].ok ? 0 : -1, cases[i].name);
		if (cases[i].ok && r == 0) {
			T_EQ_STR(host, cases[i].host, cases[i].name);
			T_EQ_INT(port, cases[i].port, cases[i].name);
		} else if (!cases[i].ok)
			T_EQ_INT(e.class, MXK_ERR_USAGE, cases[i].name);
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	T_EQ_INT(mxk_net_parse_hostport(big, host, sizeof(host), &port, 25,
	    &e), -1, "too long");
	T_EQ_INT(mxk_net_parse_hostport("abcdef", host, 4, &port, 25, &e), -1,
	    "small buffer");
}

static void
test_proxy(void)
{
	static const struct {
		const char	*name;
		const char	*in;
		int		 ok;
		int		 remote_dns;
		const char	*host;
		int		 port;
		const char	*user;
		const char	*pass;
	} cases[] = {
		{ "socks5h", "socks5h://127.0.0.1:9050", 1, 1, "127.0.0.1",
		    9050, "", "" },
		{ "socks5", "socks5://proxy.test", 1, 0, "proxy.test", 1080,
		    "", "" },
		{ "case", "SOCKS5H://proxy.test:1081/", 1, 1, "proxy.test",
		    1081, "", "" },
		{ "v6", "socks5h://[::1]:1080", 1, 1, "::1", 1080, "", "" },
		{ "user", "socks5h://joe@proxy.test", 1, 1, "proxy.test",
		    1080, "joe", "" },
		{ "user:pass", "socks5h://joe:s3c:r@t@proxy.test:2000", 1, 1,
		    "proxy.test", 2000, "joe", "s3c:r@t" },
		{ "http", "http://proxy.test:3128", 0, 0, NULL, 0, NULL, NULL },
		{ "socks4", "socks4://proxy.test", 0, 0, NULL, 0, NULL, NULL },
		{ "no host", "socks5h://", 0, 0, NULL, 0, NULL, NULL },
		{ "no host user", "socks5h://joe@", 0, 0, NULL, 0, NULL, NULL },
		{ "empty user", "socks5h://:pw@proxy.test", 0, 0, NULL, 0,
		    NULL, NULL },
		{ "path", "socks5h://proxy.test/x", 0, 0, NULL, 0, NULL, NULL },
		{ "bad port", "socks5h://proxy.test:x", 0, 0, NULL, 0, NULL,
		    NULL },
	};
	struct mxk_net_proxy	px;
	struct mxk_err		e;
	size_t			i;
	int			r;

	for (i = 0; i < NELEM(cases); i++) {
		r = mxk_net_parse_proxy(cases[i].in, &px, &e);
		T_EQ_INT(r, cases[i].ok ? 0 : -1, cases[i].name);
		if (!cases[i].ok || r != 0)
			continue;
		T_EQ_INT(px.remote_dns, cases[i].remote_dns, cases[i].name);
		T_EQ_STR(px.host, cases[i].host, cases[i].name);
		T_EQ_INT(px.port, cases[i].port, cases[i].name);
		T_EQ_STR(px.user, cases[i].user, cases[i].name);
		T_EQ_STR(px.pass, cases[i].pass, cases[i].name);
	}
}

static int
sa_from(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(25);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(25);
		return 0;
	}
	return -1;
}

static void
test_addr(void)
{
	static const struct {
		const char	*in;
		int		 local;
		const char	*withport;
	} cases[] = {
		{ "127.0.0.1", 1, "127.0.0.1:25" },
		{ "127.1.2.3", 1, NULL },
		{ "10.1.2.3", 1, NULL },
		{ "192.168.1.1", 1, NULL },
		{ "172.16.0.1", 1, NULL },
		{ "172.31.255.255", 1, NULL },
		{ "100.64.0.1", 1, NULL },
		{ "169.254.1.1", 1, NULL },
		{ "0.0.0.0", 1, NULL },
		{ "224.0.0.1", 1, NULL },
		{ "255.255.255.255", 1, NULL },
		{ "::1", 1, "[::1]:25" },
		{ "::", 1, NULL },
		{ "fe80::1", 1, NULL },
		{ "fc00::1", 1, NULL },
		{ "fd12:3456::1", 1, NULL },
		{ "ff02::1", 1, NULL },
		{ "::ffff:127.0.0.1", 1, "[::ffff:127.0.0.1]:25" },
		{ "::ffff:10.0.0.1", 1, NULL },
		{ "192.0.2.1", 0, "192.0.2.1:25" },
		{ "198.51.100.7", 0, NULL },
		{ "172.32.0.1", 0, NULL },
		{ "100.128.0.1", 0, NULL },
		{ "2001:db8::1", 0, "[2001:db8::1]:25" },
		{ "8.8.8.8", 0, NULL },
		{ "::ffff:192.0.2.1", 0, NULL },
	};
	struct sockaddr_storage	 ss;
	struct ifaddrs		*ifa, *i;
	char			 b[MXK_NET_ADDRSTRLEN];
	size_t			 k;

	for (k = 0; k < NELEM(cases); k++) {
		if (sa_from(cases[k].in, &ss) == -1) {
			T_OK(0, "bad case %s", cases[k].in);
			continue;
		}
		T_EQ_INT(mxk_net_addr_is_local((struct sockaddr *)&ss),
		    cases[k].local, cases[k].in);
		T_EQ_STR(mxk_net_addr_str((struct sockaddr *)&ss, b, sizeof(b)),
		    cases[k].in, cases[k].in);
		if (cases[k].withport != NULL)
			T_EQ_STR(mxk_net_addr_port_str((struct sockaddr *)&ss,
			    b, sizeof(b)), cases[k].withport, cases[k].in);
	}
	T_EQ_STR(mxk_net_addr_port_str((struct sockaddr *)&ss, b, 5), "?",
	    "addr_port_str truncation");

	/* Every address on an interface is local, public or not. */
	if (getifaddrs(&ifa) == -1)
		return;
	for (i = ifa; i != NULL; i = i->ifa_next)
		if (i->ifa_addr != NULL && (i->ifa_addr->sa_family == AF_INET ||
		    i->ifa_addr->sa_family == AF_INET6))
			T_EQ_INT(mxk_net_addr_is_local(i->ifa_addr), 1,
			    mxk_net_addr_str(i->ifa_addr, b, sizeof(b)));
	freeifaddrs(ifa);
}

/*
 * A one-shot SOCKS5 server thread on 127.0.0.1: checks the method offer and
 * the request bytes, then answers with rep; on success it sends the reply
 * and a banner in one write (the client must not swallow the banner).
 */
struct socks_srv {
	int			 lfd;
	const unsigned char	*want_req;
	size_t			 want_len;
	int			 rep;
	const char		*user;		/* expect RFC 1929 when set */
	const char		*pass;
	int			 ok;
	char			 why[128];
};

static int
srv_read(int fd, unsigned char *b, size_t n)
{
	size_t	got = 0;
	ssize_t	r;

	while (got < n) {
		r = read(fd, b + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static void *
socks_thread(void *arg)
{
	struct socks_srv	*s = arg;
	struct timeval		 tv = { 3, 0 };
	struct pollfd		 pfd;
	unsigned char		 b[600];
	size_t			 n;
	int			 fd;

	pfd.fd = s->lfd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 3000) != 1 || (fd = accept(s->lfd, NULL, NULL)) < 0) {
		(void)snprintf(s->why, sizeof(s->why), "no client");
		return NULL;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (s->user == NULL) {
		if (srv_read(fd, b, 3) == -1 || memcmp(b, "\5\1\0", 3) != 0) {
			(void)snprintf(s->why, sizeof(s->why), "bad offer");
			goto out;
		}
		if (write(fd, "\5\0", 2) != 2)
			goto out;
	} else {
		size_t	ul = strlen(s->user), pl = strlen(s->pass);

		if (srv_read(fd, b, 4) == -1 ||
		    memcmp(b, "\5\2\0\2", 4) != 0) {
			(void)snprintf(s->why, sizeof(s->why), "bad offer");
			goto out;
		}
		if (write(fd, "\5\2", 2) != 2)
			goto out;
		if (srv_read(fd, b, 3 + ul + pl) == -1 || b[0] != 1 ||
		    b[1] != ul || memcmp(b + 2, s->user, ul) != 0 ||
		    b[2 + ul] != pl || memcmp(b + 3 + ul, s->pass, pl) != 0) {
			(void)snprintf(s->why, sizeof(s->why), "bad auth");
			goto out;
		}
		if (write(fd, "\1\0", 2) != 2)
			goto out;
	}
	if (srv_read(fd, b, s->want_len) == -1 ||
	    memcmp(b, s->want_req, s->want_len) != 0) {
		(void)snprintf(s->why, sizeof(s->why), "bad request");
		goto out;
	}
	n = 0;
	b[n++] = 5;
	b[n++] = (unsigned char)s->rep;
	b[n++] = 0;
	if (s->rep == 0) {
		/* BND as a name, to exercise ATYP 3 in the reply. */
		b[n++] = 3;
		b[n++] = 5;
		memcpy(b + n, "bound", 5);
		n += 5;
		b[n++] = 0x04;
		b[n++] = 0x38;
		memcpy(b + n, "220 banner\r\n", 12);
		n += 12;
	} else {
		b[n++] = 1;
		memset(b + n, 0, 6);
		n += 6;
	}
	if (write(fd, b, n) != (ssize_t)n)
		goto out;
	s->ok = 1;
out:
	(void)close(fd);
	return NULL;
}

static void
socks_case(const char *name, const unsigned char *req, size_t reqlen,
    const char *host, int port, int rep, const char *user, const char *pass)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	struct socks_srv	 s;
	struct mxk_err		 e;
	pthread_t		 th;
	struct mxk_conn		*c;
	struct mxk_buf		 in;
	char			*line;
	size_t			 ll;
	int			 fd = -1, r;

	memset(&s, 0, sizeof(s));
	if ((s.lfd = listener(AF_INET, 4, &ss, &len)) == -1) {
		T_OK(0, "%s: listener", name);
		return;
	}
	s.want_req = req;
	s.want_len = reqlen;
	s.rep = rep;
	s.user = user;
	s.pass = pass;
	if (pthread_create(&th, NULL, socks_thread, &s) != 0) {
		T_OK(0, "%s: pthread_create", name);
		(void)close(s.lfd);
		return;
	}
	if (user == NULL)
		r = mxk_net_socks5_connect((struct sockaddr *)&ss, len, host,
		    port, mxk_deadline_in(3000), &fd, &e);
	else {
		struct mxk_net_target	t;
		struct mxk_net_params	p;
		size_t			w, na = 0;

		set_target(&t, &ss, len, "proxy");
		params(&p, 2000, 0, 3000);
		r = mxk_net_connect(&t, 1, &p, NULL, &na, &w, &fd, &e);
		if (r == 0 && (r = mxk_net_socks5_handshake(fd, host, port,
		    user, pass, mxk_deadline_in(3000), &e)) == -1) {
			(void)close(fd);
			fd = -1;
		}
	}
	if (rep == 0) {
		T_EQ_INT(r, 0, name);
		if (r == -1)
			(void)fprintf(stderr, "  %s: %s\n", name, e.msg);
		T_OK(fd != -1, "%s: fd", name);
	} else {
		T_EQ_INT(r, -1, name);
		T_EQ_INT(fd, -1, name);
		T_EQ_INT(e.class, MXK_ERR_TEMP, name);
		T_OK(strstr(e.msg, "SOCKS5 proxy: host unreachable (4)") != NULL,
		    "%s: msg %s", name, e.msg);
	}
	(void)pthread_join(th, NULL);
	T_OK(s.ok, "%s: server saw the right bytes (%s)", name, s.why);
	if (fd != -1) {
		/* The banner after the reply is still there to read. */
		c = mxk_conn_new_fd(fd);
		mxk_buf_init(&in, 1024);
		T_EQ_INT(mxk_conn_readline(c, &in, 512, &line, &ll,
		    mxk_deadline_in(2000), &e), 1, name);
		T_OK(ll == 12 && memcmp(line, "220 banner\r\n", 12) == 0,
		    "%s: banner", name);
		mxk_buf_free(&in);
		mxk_conn_free(c);
	}
	(void)close(s.lfd);
}

static void
test_socks5(void)
{
	static const unsigned char name_req[] = {
		5, 1, 0, 3, 15, 'm', 'x', '.', 'e', 'x', 'a', 'm', 'p', 'l',
		'e', '.', 't', 'e', 's', 't', 0, 25
	};
	static const unsigned char v4_req[] = {
		5, 1, 0, 1, 192, 0, 2, 7, 0x01, 0xd1
	};
	static const unsigned char v6_req[] = {
		5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 1, 0, 25
	};
	struct mxk_err	e;

	socks_case("socks5 name", name_req, sizeof(name_req),
	    "mx.example.test", 25, 0, NULL, NULL);
	socks_case("socks5 v4", v4_req, sizeof(v4_req), "192.0.2.7", 465, 0,
	    NULL, NULL);
	socks_case("socks5 v6", v6_req, sizeof(v6_req), "2001:db8::1", 25, 0,
	    NULL, NULL);
	socks_case("socks5 host unreachable", name_req, sizeof(name_req),
	    "mx.example.test", 25, 4, NULL, NULL);
	socks_case("socks5 user/pass", name_req, sizeof(name_req),
	    "mx.example.test", 25, 0, "joe", "secret");

	T_EQ_INT(mxk_net_socks5_handshake(-1, "", 25, NULL, NULL,
	    mxk_deadline_in(100), &e), -1, "socks5 empty host");
	T_EQ_INT(mxk_net_socks5_handshake(-1, "x.test", 0, NULL, NULL,
	    mxk_deadline_in(100), &e), -1, "socks5 port 0");
	T_EQ_INT(e.class, MXK_ERR_USAGE, "socks5 port 0 usage");
}

/*
 * A scripted transport: read returns the chunks in order; "" means "would
 * block" (the conn then polls the fd, which the test keeps readable); NULL
 * ends the script with end of file.  write takes at most 3 bytes and says
 * "would block" every other call.
 */
struct mock {
	const char	*chunks[8];
	size_t		 i;
	char		 out[64];
	size_t		 outlen;
	int		 wcalls;
	int		 closed;
};

static ssize_t
mock_read(void *ctx, void *buf, size_t len, struct mxk_err *e)
{
	struct mock	*m = ctx;
	const char	*c = m->chunks[m->i];
	size_t		 n;

	if (c == NULL)
		return 0;
	m->i++;
	if (*c == '\0')
		return MXK_CONN_WANT_READ;
	n = strlen(c);
	if (n > len)
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "mock chunk too big");
	memcpy(buf, c, n);
	return (ssize_t)n;
}

static ssize_t
mock_write(void *ctx, const void *buf, size_t len, struct mxk_err *e)
{
	struct mock	*m = ctx;
	size_t		 n = len < 3 ? len : 3;

	if (m->wcalls++ % 2 == 1)
		return MXK_CONN_WANT_WRITE;
	if (m->outlen + n > sizeof(m->out))
		return mxk_err_set(e, MXK_ERR_IO, MXK_SRC_LOCAL, NULL, "full");
	memcpy(m->out + m->outlen, buf, n);
	m->outlen += n;
	return (ssize_t)n;
}

static size_t
mock_pending(void *ctx)
{
	return 42;
}

static void
mock_close(void *ctx)
{
	struct mock	*m = ctx;

	m->closed++;
}

static const struct mxk_conn_ops mock_ops = {
	mock_read, mock_write, mock_pending, mock_close
};

static void
test_readline(void)
{
	struct mock	 m;
	struct mxk_conn	*c;
	struct mxk_buf	 in;
	struct mxk_err	 e;
	char		*line;
	size_t		 ll;
	int		 sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		T_OK(0, "socketpair");
		return;
	}
	/* Keep sv[0] readable so a "would block" poll returns at once. */
	T_OK(write(sv[1], "x", 1) == 1, "prime");
	c = mxk_conn_new_fd(sv[0]);
	T_OK(c != NULL, "conn_new_fd");
	if (c == NULL)
		return;
	T_EQ_INT(mxk_conn_fd(c), sv[0], "conn_fd");
	T_EQ_INT(mxk_conn_pending(c), 0, "plain pending");

	/* A line split across reads, then a second one and end of file. */
	memset(&m, 0, sizeof(m));
	m.chunks[0] = "HEL";
	m.chunks[1] = "";
	m.chunks[2] = "LO\r\nNE";
	m.chunks[3] = "XT\r\n";
	m.chunks[4] = NULL;
	mxk_conn_set_ops(c, &mock_ops, &m);
	T_EQ_INT(mxk_conn_pending(c), 42, "mock pending");
	mxk_buf_init(&in, 1024);
	T_EQ_INT(mxk_conn_readline(c, &in, 64, &line, &ll,
	    mxk_deadline_in(1000), &e), 1, "split line");
	T_OK(ll == 7 && memcmp(line, "HELLO\r\n", 7) == 0, "split line text");
	mxk_buf_consume(&in, ll);
	T_EQ_INT(mxk_conn_readline(c, &in, 64, &line, &ll,
	    mxk_deadline_in(1000), &e), 1, "second line");
	T_OK(ll == 6 && memcmp(line, "NEXT\r\n", 6) == 0, "second line text");
	mxk_buf_consume(&in, ll);
	T_EQ_INT(mxk_conn_readline(c, &in, 64, &line, &ll,
	    mxk_deadline_in(1000), &e), 0, "EOF");
	T_OK(line == NULL && ll == 0, "EOF outputs");

	/* Writes in 3-byte pieces with "would block" in between. */
	T_EQ_INT(mxk_conn_write_all(c, "EHLO client.test\r\n", 18,
	    mxk_deadline_in(1000), &e), 0, "mock write_all");
	T_OK(m.outlen == 18 && memcmp(m.out, "EHLO client.test\r\n", 18) == 0,
	    "mock write content");

	/* End of file inside a line. */
	memset(&m, 0, sizeof(m));
	m.chunks[0] = "250-partial";
	mxk_conn_set_ops(c, &mock_ops, &m);
	mxk_buf_reset(&in);
	T_EQ_INT(mxk_conn_readline(c, &in, 64, &line, &ll,
	    mxk_deadline_in(1000), &e), -1, "EOF in line");
	T_EQ_STR(e.status, "4.4.2", "EOF in line status");
	T_EQ_INT(e.class, MXK_ERR_TEMP, "EOF in line class");

	/* Too long: no LF within the limit. */
	memset(&m, 0, sizeof(m));
	m.chunks[0] = "0123456789";
	m.chunks[1] = "0123456789";
	m.chunks[2] = "0123456789\r\n";
	mxk_conn_set_ops(c, &mock_ops, &m);
	mxk_buf_reset(&in);
	T_EQ_INT(mxk_conn_readline(c, &in, 16, &line, &ll,
	    mxk_deadline_in(1000), &e), -1, "too long");
	T_EQ_INT(e.class, MXK_ERR_PROTO, "too long class");
	T_EQ_STR(e.status, "5.5.0", "too long status");
	T_OK(strstr(e.msg, "line too long") != NULL, "too long msg %s", e.msg);
	T_OK(in.len >= 16 && in.len <= 20, "too long: bounded read (%zu)",
	    in.len);

	/* Buffer max below the limit counts as too long too. */
	memset(&m, 0, sizeof(m));
	m.chunks[0] = "0123456789";
	m.chunks[1] = "0123456789";
	mxk_conn_set_ops(c, &mock_ops, &m);
	mxk_buf_free(&in);
	mxk_buf_init(&in, 10);
	T_EQ_INT(mxk_conn_readline(c, &in, 64, &line, &ll,
	    mxk_deadline_in(1000), &e), -1, "buffer full");
	T_EQ_INT(e.class, MXK_ERR_PROTO, "buffer full class");
	mxk_buf_free(&in);

	/* Back to the plain fd: the primed byte is there. */
	T_EQ_INT(m.closed, 1, "ops close when the previous ops were replaced");
	m.closed = 0;
	mxk_conn_set_ops(c, NULL, NULL);
	T_EQ_INT(m.closed, 1, "ops close on replace");
	{
		char	b[4];

		T_EQ_INT(mxk_conn_read(c, b, sizeof(b), mxk_deadline_in(1000),
		    &e), 1, "plain read");
	}
	mxk_conn_set_ops(c, &mock_ops, &m);
	mxk_conn_free(c);
	T_EQ_INT(m.closed, 2, "ops close on free");
	(void)close(sv[1]);
}

static void
test_timeouts(void)
{
	struct mxk_conn	*c;
	struct mxk_err	 e;
	char		 b[16], *big;
	long long	 t0, el;
	size_t		 bigsz = 8 << 20;
	int		 sv[2], pfd[2], fd;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		T_OK(0, "socketpair");
		return;
	}
	c = mxk_conn_new_fd(sv[0]);
	t0 = mxk_now_ms();
	T_EQ_INT(mxk_conn_read(c, b, sizeof(b), mxk_deadline_in(100), &e), -1,
	    "read timeout");
	el = mxk_now_ms() - t0;
	T_OK(el >= 80 && el < 1500, "read timeout took %lld ms", el);
	T_EQ_INT(e.class, MXK_ERR_TEMP, "read timeout class");
	T_EQ_INT(e.source, MXK_SRC_NET, "read timeout source");
	T_EQ_STR(e.status, "4.4.2", "read timeout status");

	/* Nobody reads the other end: the write times out. */
	if ((big = calloc(1, bigsz)) != NULL) {
		t0 = mxk_now_ms();
		T_EQ_INT(mxk_conn_write_all(c, big, bigsz,
		    mxk_deadline_in(200), &e), -1, "write timeout");
		el = mxk_now_ms() - t0;
		T_OK(el >= 150 && el < 2000, "write timeout took %lld ms", el);
		T_EQ_STR(e.status, "4.4.2", "write timeout status");
		T_OK(strstr(e.msg, "write timed out") != NULL, "write msg %s",
		    e.msg);
		free(big);
	}
	mxk_conn_free(c);

	/* The peer is gone: a write error, not a signal. */
	fd = sv[1];
	T_EQ_INT(mxk_net_write_all(fd, "x", 1, mxk_deadline_in(500), &e), -1,
	    "write to closed peer");
	T_EQ_INT(e.sys_errno, EPIPE, "EPIPE");
	(void)close(fd);

	/* mxk_net_* on a pipe: not a socket, write() is used. */
	if (pipe(pfd) == 0) {
		(void)mxk_net_nonblock(pfd[0]);
		T_EQ_INT(mxk_net_write_all(pfd[1], "abc", 3,
		    mxk_deadline_in(500), &e), 0, "pipe write");
		T_EQ_INT(mxk_net_read(pfd[0], b, sizeof(b),
		    mxk_deadline_in(500), &e), 3, "pipe read");
		T_EQ_INT(mxk_net_read(pfd[0], b, sizeof(b),
		    mxk_deadline_in(50), &e), -1, "pipe read timeout");
		T_EQ_STR(e.status, "4.4.2", "pipe read timeout status");
		(void)close(pfd[1]);
		T_EQ_INT(mxk_net_read(pfd[0], b, sizeof(b),
		    mxk_deadline_in(500), &e), 0, "pipe EOF");
		T_EQ_INT(mxk_net_wait(pfd[0], POLLIN, mxk_deadline_in(0)) > 0,
		    1, "wait ready");
		(void)close(pfd[0]);
	}
}

int
main(void)
{
	long long	t0 = mxk_now_ms();

	mxk_log_set_sink(count_sink, NULL);
	mxk_log_set_level(MXK_LOG_TRACE);
	test_defaults();
	test_connect_live();
	test_refused();
	test_local_bind();
	test_stagger();
	test_post_connect();
	test_hostport();
	test_proxy();
	test_addr();
	test_socks5();
	test_readline();
	test_timeouts();
	T_OK(mxk_now_ms() - t0 < 5000, "whole suite under 5 s (%lld ms)",
	    mxk_now_ms() - t0);
	return t_done("net");
}

/* ISC license. */

#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "check.h"
#include "clock.h"
#include "err.h"
#include "log.h"
#include "proc.h"

#define CHECK_PATH		"/usr/bin:/bin"
#define CHECK_TIMEOUT_MS	10000
#define CHECK_MAX_PENDING	1000
#define CHECK_RESTART_MS	1000	/* at most one start per second */
#define CHECK_REQMAX		4096	/* one request line, encoded */
#define CHECK_MAXFD_LOOP	4096

struct req {
	void		*cookie;	/* NULL: cancelled */
	long long	 deadline;
};

struct mxk_check {
	char *const		*argv;
	char			 prog[PATH_MAX];
	char			*pathenv;
	const char		*path;
	int			 timeout_ms;
	size_t			 max_pending;
	mxk_check_done_fn	 done;
	pid_t			 pid;		/* 0: not running */
	int			 in, out;	/* its stdin, its stdout */
	int			 broken;	/* to be killed at the next step */
	char			 why[128];
	struct mxk_buf		 wbuf, rbuf;
	struct req		*q;		/* a ring of max_pending */
	size_t			 head, n;
	long long		 last_start;
	unsigned long		 starts;
};

/* Percent-encoding of a value: what is not 0x21..0x7e, and '%'. */
int
mxk_check_encode(struct mxk_buf *b, const char *const *kv, size_t n)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*v;
	const char		*k;
	size_t			 i, start = b->len;

	for (i = 0; i < n; i++) {
		for (k = kv[2 * i]; *k != '\0'; k++)
			if (!(*k >= 'a' && *k <= 'z') && *k != '_')
				goto fail;
		if (kv[2 * i][0] == '\0')
			goto fail;
		if ((i > 0 && mxk_buf_addch(b, ' ') == -1) ||
		    mxk_buf_addstr(b, kv[2 * i]) == -1 ||
		    mxk_buf_addch(b, '=') == -1)
			goto fail;
		v = (const unsigned char *)(kv[2 * i + 1] != NULL ?
		    kv[2 * i + 1] : "");
		for (; *v != '\0'; v++) {
			if (*v > 0x20 && *v < 0x7f && *v != '%') {
				if (mxk_buf_addch(b, (char)*v) == -1)
					goto fail;
			} else if (mxk_buf_addch(b, '%') == -1 ||
			    mxk_buf_addch(b, hex[*v >> 4]) == -1 ||
			    mxk_buf_addch(b, hex[*v & 15]) == -1)
				goto fail;
		}
	}
	if (mxk_buf_addch(b, '\n') == -1)
		goto fail;
	return 0;
fail:
	mxk_buf_truncate(b, start);
	return -1;
}

static void
result_set(struct mxk_check_result *r, int code, const char *status,
    const char *text)
{
	r->accept = code / 100 == 2;
	r->code = code;
	(void)snprintf(r->status, sizeof(r->status), "%s", status);
	(void)snprintf(r->text, sizeof(r->text), "%s", text);
}

int
mxk_check_parse(const char *line, size_t len, struct mxk_check_result *r)
{
	char	 text[MXK_CHECK_TEXTMAX + 1];
	size_t	 i = 0, k;
	int	 code = 0, digits = 0, a, b, c, m;

	memset(r, 0, sizeof(*r));
	if (len > 0 && line[len - 1] == '\r')
		len--;
	while (i < len && isdigit((unsigned char)line[i]) && digits < 4) {
		code = code * 10 + (line[i++] - '0');
		digits++;
	}
	if (digits == 0 || digits > 3 || (i < len && line[i] != ' '))
		return -1;
	if (!(code < 100 || (code >= 200 && code < 300) ||
	    (code >= 400 && code < 600)))
		return -1;
	if (i < len)
		i++;
	/* The text: one line, printable, bounded. */
	for (k = 0; i < len && k < MXK_CHECK_TEXTMAX; i++, k++)
		text[k] = (unsigned char)line[i] < 32 || line[i] == 127 ? '?' :
		    line[i];
	text[k] = '\0';
	if (code == 0 || code / 100 == 2)
		result_set(r, 250, "2.1.5", "Ok");
	else if (code == 67)
		result_set(r, 550, "5.1.1", "Error: no such recipient here");
	else if (code == 75)
		result_set(r, 451, "4.3.0", "Error: try again later");
	else if (code < 100)
		result_set(r, 554, "5.3.0", "Error: refused by policy");
	else
		result_set(r, code, code / 100 == 4 ? "4.7.1" : "5.7.1",
		    "Error: refused by policy");
	if (text[0] == '\0' || r->accept)
		return 0;
	/* A leading enhanced status code of the reply's class (RFC 3463). */
	m = 0;
	if (sscanf(text, "%1d.%3d.%3d%n", &a, &b, &c, &m) == 3 && m > 0 &&
	    (text[m] == ' ' || text[m] == '\0') && a == r->code / 100) {
		char st[48];

		(void)snprintf(st, sizeof(st), "%d.%d.%d", a, b, c);
		(void)snprintf(r->status, sizeof(r->status), "%.15s", st);
		k = (size_t)m;
		while (text[k] == ' ')
			k++;
		if (text[k] != '\0')
			(void)snprintf(r->text, sizeof(r->text), "%s",
			    text + k);
		return 0;
	}
	(void)snprintf(r->text, sizeof(r->text), "%s", text);
	return 0;
}

int
mxk_check_new(const struct mxk_check_params *p, mxk_check_done_fn done,
    struct mxk_check **cp, struct mxk_err *e)
{
	struct mxk_check	*c;
	size_t			 n;

	*cp = NULL;
	if (p->argv == NULL || p->argv[0] == NULL || p->argv[0][0] == '\0' ||
	    done == NULL)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "check: no program");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return mxk_err_sys(e, MXK_ERR_INTERNAL, "check");
	c->argv = p->argv;
	c->path = p->path != NULL ? p->path : CHECK_PATH;
	c->timeout_ms = p->timeout_ms > 0 ? p->timeout_ms : CHECK_TIMEOUT_MS;
	c->max_pending = p->max_pending > 0 ? p->max_pending :
	    CHECK_MAX_PENDING;
	c->done = done;
	c->in = c->out = -1;
	c->last_start = LLONG_MIN / 2;
	n = strlen(c->path) + 6;
	if ((c->q = calloc(c->max_pending, sizeof(*c->q))) == NULL ||
	    (c->pathenv = malloc(n)) == NULL) {
		free(c->q);
		free(c);
		return mxk_err_sys(e, MXK_ERR_INTERNAL, "check");
	}
	(void)snprintf(c->pathenv, n, "PATH=%s", c->path);
	/* A program given as a path is checked too (as mxk_store_check()
	 * does for --exec). */
	if (mxk_proc_find(p->argv[0], c->path, c->prog, sizeof(c->prog)) ==
	    -1 || !mxk_proc_runnable(c->prog)) {
		(void)mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_LOCAL, NULL,
		    "check: %s: not found (or not executable)", p->argv[0]);
		free(c->pathenv);
		free(c->q);
		free(c);
		return -1;
	}
	mxk_buf_init(&c->wbuf, c->max_pending * CHECK_REQMAX);
	mxk_buf_init(&c->rbuf, MXK_CHECK_LINEMAX);
	*cp = c;
	return 0;
}

static int
start(struct mxk_check *c)
{
	int		 ip[2] = { -1, -1 }, op[2] = { -1, -1 }, fds[2], maxfd;
	char		*envp[2];
	pid_t		 pid;

	c->last_start = mxk_now_ms();
	maxfd = mxk_proc_maxfd(CHECK_MAXFD_LOOP);
	if (pipe2(ip, O_CLOEXEC) == -1 || pipe2(op, O_CLOEXEC) == -1 ||
	    mxk_proc_above2(&ip[0]) == -1 || mxk_proc_above2(&op[1]) == -1 ||
	    fcntl(ip[1], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(op[0], F_SETFL, O_NONBLOCK) == -1)
		goto fail;
	/* Standard error stays the server's. */
	fds[0] = ip[0];
	fds[1] = op[1];
	envp[0] = c->pathenv;
	envp[1] = NULL;
	if ((pid = mxk_proc_fork()) == 0)
		mxk_proc_exec(c->prog, c->argv, envp, fds, 2, maxfd, -1);
	if (pid == -1)
		goto fail;
	(void)close(ip[0]);
	(void)close(op[1]);
	c->pid = pid;
	c->in = ip[1];
	c->out = op[0];
	c->broken = 0;
	c->starts++;
	mxk_log(MXK_LOG_DEBUG, "check: started %s, pid %ld", c->prog,
	    (long)pid);
	return 0;
fail:
	mxk_log(MXK_LOG_WARN, "check: cannot start %s: %s", c->prog,
	    strerror(errno));
	if (ip[0] != -1)
		(void)close(ip[0]);
	if (ip[1] != -1)
		(void)close(ip[1]);
	if (op[0] != -1)
		(void)close(op[0]);
	if (op[1] != -1)
		(void)close(op[1]);
	return -1;
}

/* Kill the process group and reap the program. */
static void
stop(struct mxk_check *c)
{
	int	st;

	if (c->pid > 0) {
		(void)kill(-c->pid, SIGKILL);
		(void)kill(c->pid, SIGKILL);
		while (waitpid(c->pid, &st, 0) == -1 && errno == EINTR)
			;
	}
	if (c->in != -1)
		(void)close(c->in);
	if (c->out != -1)
		(void)close(c->out);
	c->pid = 0;
	c->in = c->out = -1;
	c->broken = 0;
	mxk_buf_reset(&c->wbuf);
	mxk_buf_reset(&c->rbuf);
}

static void
broken(struct mxk_check *c, const char *why)
{
	if (c->broken)
		return;
	c->broken = 1;
	(void)snprintf(c->why, sizeof(c->why), "%s", why);
}

/* The program is gone: 451 for every request still waiting. */
static void
fail_all(struct mxk_check *c)
{
	struct mxk_check_result	r;
	struct req		q;
	size_t			k = c->n;

	mxk_log(MXK_LOG_WARN, "check: %s (pid %ld) %s; %zu request%s failed",
	    c->prog, (long)c->pid, c->why, c->n, c->n == 1 ? "" : "s");
	stop(c);
	result_set(&r, 451, "4.3.0", "Error: policy check failed, try again "
	    "later");
	/* Only those queued now: a callback may queue a new one. */
	while (k-- > 0) {
		q = c->q[c->head];
		c->head = (c->head + 1) % c->max_pending;
		c->n--;
		if (q.cookie != NULL)
			c->done(q.cookie, &r);
	}
}

static void
flush(struct mxk_check *c)
{
	ssize_t	w;

	while (c->pid > 0 && !c->broken && c->wbuf.len > 0) {
		w = write(c->in, c->wbuf.p, c->wbuf.len);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w <= 0) {
			broken(c, "stopped reading its requests");
			return;
		}
		mxk_buf_consume(&c->wbuf, (size_t)w);
	}
}

int
mxk_check_submit(struct mxk_check *c, const char *const *kv, size_t n,
    void *cookie, struct mxk_err *e)
{
	struct req	*q;

	if (c->n >= c->max_pending)
		goto busy;
	if (c->pid == 0) {
		if (mxk_now_ms() - c->last_start < CHECK_RESTART_MS ||
		    start(c) == -1)
			goto busy;
	}
	if (mxk_check_encode(&c->wbuf, kv, n) == -1)
		goto busy;
	q = &c->q[(c->head + c->n) % c->max_pending];
	q->cookie = cookie;
	q->deadline = mxk_now_ms() + c->timeout_ms;
	c->n++;
	flush(c);
	return 0;
busy:
	(void)mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_LOCAL, "4.3.0",
	    "check: cannot ask the policy program now");
	e->code = 451;
	return -1;
}

void
mxk_check_cancel(struct mxk_check *c, void *cookie)
{
	size_t	i;

	for (i = 0; i < c->n; i++)
		if (c->q[(c->head + i) % c->max_pending].cookie == cookie)
			c->q[(c->head + i) % c->max_pending].cookie = NULL;
}

void
mxk_check_fds(const struct mxk_check *c, int *rfd, int *wfd)
{
	*rfd = c->pid > 0 ? c->out : -1;
	*wfd = c->pid > 0 && c->wbuf.len > 0 ? c->in : -1;
}

long long
mxk_check_wake(const struct mxk_check *c)
{
	if (c->broken)
		return 0;
	return c->n > 0 ? c->q[c->head].deadline : LLONG_MAX;
}

size_t
mxk_check_pending(const struct mxk_check *c)
{
	return c->n;
}

unsigned long
mxk_check_starts(const struct mxk_check *c)
{
	return c->starts;
}

/* Complete reply lines in rbuf, each to its request. */
static void
replies(struct mxk_check *c)
{
	struct mxk_check_result	r;
	struct req		q;
	size_t			len;
	int			rc;

	while (!c->broken && (rc = mxk_buf_line(&c->rbuf, MXK_CHECK_LINEMAX,
	    &len)) != MXK_LINE_MORE) {
		if (rc == MXK_LINE_LONG) {
			broken(c, "sent an overlong line");
			return;
		}
		if (c->n == 0) {
			broken(c, "replied to no request");
			return;
		}
		if (mxk_check_parse(c->rbuf.p, len - 1, &r) == -1) {
			broken(c, "sent a line that is not a reply");
			return;
		}
		mxk_buf_consume(&c->rbuf, len);
		q = c->q[c->head];
		c->head = (c->head + 1) % c->max_pending;
		c->n--;
		if (q.cookie != NULL)
			c->done(q.cookie, &r);
	}
}

void
mxk_check_step(struct mxk_check *c)
{
	char	*p;
	ssize_t	 n;
	int	 i;

	for (i = 0; i < 16 && c->pid > 0 && !c->broken; i++) {
		size_t	avail = c->rbuf.max - c->rbuf.len;

		/* replies() leaves no whole line behind: a full buffer
		 * is a line too long. */
		if (avail == 0 || (p = mxk_buf_space(&c->rbuf, avail)) ==
		    NULL) {
			broken(c, "sent an overlong line");
			break;
		}
		n = read(c->out, p, avail);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			broken(c, n == 0 ? "closed its output" :
			    "cannot be read");
			break;
		}
		mxk_buf_commit(&c->rbuf, (size_t)n);
		replies(c);
	}
	flush(c);
	if (!c->broken && c->n > 0 && mxk_now_ms() >= c->q[c->head].deadline)
		broken(c, "did not answer in time");
	if (c->broken)
		fail_all(c);
}

void
mxk_check_free(struct mxk_check *c)
{
	if (c == NULL)
		return;
	stop(c);
	mxk_buf_free(&c->wbuf);
	mxk_buf_free(&c->rbuf);
	free(c->pathenv);
	free(c->q);
	free(c);
}

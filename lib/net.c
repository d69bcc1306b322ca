/* ISC license. */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "log.h"
#include "net.h"

#define CONNECT_TIMEOUT_DEFAULT	30000
#define ATTEMPT_DELAY_DEFAULT	500
#define READ_CHUNK		4096

/*
 * A network failure with errno text: MXK_ERR_TEMP, source net.
 */
static int
net_errno(struct mxk_err *e, int errnum, const char *status,
    const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
net_errno(struct mxk_err *e, int errnum, const char *status,
    const char *fmt, ...)
{
	char	what[MXK_ERR_MSGMAX];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	(void)mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_NET, status, "%s: %s", what,
	    strerror(errnum));
	if (e != NULL)
		e->sys_errno = errnum;
	errno = errnum;
	return -1;
}

/* Copy a string, cutting it to fit. */
static void
copy_trunc(char *dst, size_t len, const char *src)
{
	size_t	n = strlen(src);

	if (len == 0)
		return;
	if (n >= len)
		n = len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static long long
min_ll(long long a, long long b)
{
	return a < b ? a : b;
}

int
mxk_net_wait(int fd, int events, long long deadline)
{
	struct pollfd	pfd;
	int		r, n;

	for (n = 0; n < 1000000; n++) {
		pfd.fd = fd;
		pfd.events = (short)events;
		pfd.revents = 0;
		r = poll(&pfd, 1, mxk_ms_left(deadline));
		if (r > 0)
			return pfd.revents != 0 ? pfd.revents : events;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
	errno = EINTR;
	return -1;
}

int
mxk_net_nonblock(int fd)
{
	int	fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return -1;
	if ((fl & O_NONBLOCK) != 0)
		return 0;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ? -1 : 0;
}

/*
 * One non-blocking read or write on an fd: the plain transport.  EINTR is
 * retried; EAGAIN becomes a want.
 */
static ssize_t
fd_read(int fd, void *buf, size_t len, struct mxk_err *e)
{
	ssize_t	r;

	do
		r = read(fd, buf, len);
	while (r == -1 && errno == EINTR);
	if (r >= 0)
		return r;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return MXK_CONN_WANT_READ;
	return net_errno(e, errno, "4.4.2", "read");
}

static ssize_t
fd_write(int fd, int is_sock, const void *buf, size_t len, struct mxk_err *e)
{
	ssize_t	r;

	for (;;) {
		if (is_sock)
			r = send(fd, buf, len, MSG_NOSIGNAL);
		else
			r = write(fd, buf, len);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno == ENOTSOCK && is_sock) {
			is_sock = 0;
			continue;
		}
		break;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return MXK_CONN_WANT_WRITE;
	return net_errno(e, errno, "4.4.2", "write");
}

static int
wait_want(int fd, ssize_t want, long long deadline, const char *what,
    struct mxk_err *e)
{
	int	r;

	r = mxk_net_wait(fd, want == MXK_CONN_WANT_WRITE ? POLLOUT : POLLIN,
	    deadline);
	if (r > 0)
		return 0;
	if (r == 0)
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_NET, "4.4.2",
		    "%s timed out", what);
	return net_errno(e, errno, "4.4.2", "poll");
}

ssize_t
mxk_net_read(int fd, void *buf, size_t len, long long deadline,
    struct mxk_err *e)
{
	ssize_t	r;

	for (;;) {
		r = fd_read(fd, buf, len, e);
		if (r >= 0 || r == -1)
			return r;
		if (wait_want(fd, r, deadline, "read", e) == -1)
			return -1;
	}
}

int
mxk_net_write_full(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
mxk_net_write_all(int fd, const void *buf, size_t len, long long deadline,
    struct mxk_err *e)
{
	const char	*p = buf;
	ssize_t		 r;

	while (len > 0) {
		r = fd_write(fd, 1, p, len, e);
		if (r == -1)
			return -1;
		if (r == 0)
			return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_NET, "4.4.2",
			    "write: no progress");
		if (r < 0) {
			if (wait_want(fd, r, deadline, "write", e) == -1)
				return -1;
			continue;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/*
 * Transport.
 */
struct mxk_conn {
	int			 fd;
	int			 is_sock;
	const struct mxk_conn_ops *ops;
	void			*ctx;
};

static ssize_t
plain_read(void *ctx, void *buf, size_t len, struct mxk_err *e)
{
	struct mxk_conn	*c = ctx;

	return fd_read(c->fd, buf, len, e);
}

static ssize_t
plain_write(void *ctx, const void *buf, size_t len, struct mxk_err *e)
{
	struct mxk_conn	*c = ctx;

	return fd_write(c->fd, c->is_sock, buf, len, e);
}

static const struct mxk_conn_ops plain_ops = {
	plain_read, plain_write, NULL, NULL
};

static struct mxk_conn *
conn_new(int fd, int is_sock)
{
	struct mxk_conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fd = fd;
	c->is_sock = is_sock;
	c->ops = &plain_ops;
	c->ctx = c;
	return c;
}

struct mxk_conn *
mxk_conn_new_fd(int fd)
{
	struct stat	 st;

	(void)mxk_net_nonblock(fd);
	return conn_new(fd, fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode));
}

struct mxk_conn *
mxk_conn_new_sock(int fd)
{
	return conn_new(fd, 1);
}

static void
conn_close_ops(struct mxk_conn *c)
{
	if (c->ops->close != NULL)
		c->ops->close(c->ctx);
	c->ops = &plain_ops;
	c->ctx = c;
}

void
mxk_conn_set_ops(struct mxk_conn *c, const struct mxk_conn_ops *ops,
    void *ctx)
{
	conn_close_ops(c);
	if (ops != NULL) {
		c->ops = ops;
		c->ctx = ctx;
	}
}

int
mxk_conn_fd(const struct mxk_conn *c)
{
	return c->fd;
}

size_t
mxk_conn_pending(const struct mxk_conn *c)
{
	return c->ops->pending != NULL ? c->ops->pending(c->ctx) : 0;
}

ssize_t
mxk_conn_read(struct mxk_conn *c, void *buf, size_t len, long long deadline,
    struct mxk_err *e)
{
	ssize_t	r;

	/*
	 * Try the transport before polling: a TLS layer may hold decoded
	 * bytes that the fd will never signal.
	 */
	for (;;) {
		r = c->ops->read(c->ctx, buf, len, e);
		if (r >= 0 || r == -1)
			return r;
		if (r != MXK_CONN_WANT_READ && r != MXK_CONN_WANT_WRITE)
			return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_NET,
			    NULL, "transport read returned %zd", r);
		if (wait_want(c->fd, r, deadline, "read", e) == -1)
			return -1;
	}
}

ssize_t
mxk_conn_read_nb(struct mxk_conn *c, void *buf, size_t len, struct mxk_err *e)
{
	return c->ops->read(c->ctx, buf, len, e);
}

ssize_t
mxk_conn_write_nb(struct mxk_conn *c, const void *buf, size_t len,
    struct mxk_err *e)
{
	return c->ops->write(c->ctx, buf, len, e);
}

int
mxk_conn_write_all(struct mxk_conn *c, const void *buf, size_t len,
    long long deadline, struct mxk_err *e)
{
	const char	*p = buf;
	ssize_t		 r;

	while (len > 0) {
		r = c->ops->write(c->ctx, p, len, e);
		if (r == -1)
			return -1;
		if (r == MXK_CONN_WANT_READ || r == MXK_CONN_WANT_WRITE) {
			if (wait_want(c->fd, r, deadline, "write", e) == -1)
				return -1;
			continue;
		}
		if (r <= 0 || (size_t)r > len)
			return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_NET,
			    NULL, "transport write returned %zd", r);
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int
mxk_conn_readline(struct mxk_conn *c, struct mxk_buf *in, size_t limit,
    char **line, size_t *len, long long deadline, struct mxk_err *e)
{
	size_t	 n, room;
	ssize_t	 r;
	char	*space;

	*line = NULL;
	*len = 0;
	for (;;) {
		switch (mxk_buf_line(in, limit, &n)) {
		case MXK_LINE_OK:
			*line = in->p;
			*len = n;
			return 1;
		case MXK_LINE_LONG:
			return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_NET,
			    "5.5.0", "line too long (limit %zu)", limit);
		default:
			break;
		}
		/*
		 * Read a chunk, never past the buffer's max.  Bytes after the
		 * line stay for the next call (pipelining); a peer that never
		 * sends LF is cut off once limit bytes are buffered.
		 */
		room = in->max > in->len ? in->max - in->len : 0;
		if (room == 0)
			return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_NET,
			    "5.5.0", "line too long (buffer full at %zu)",
			    in->len);
		if (room > READ_CHUNK)
			room = READ_CHUNK;
		if ((space = mxk_buf_space(in, room)) == NULL)
			return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL,
			    NULL, "out of memory");
		r = mxk_conn_read(c, space, room, deadline, e);
		if (r == -1)
			return -1;
		if (r == 0) {
			if (in->len == 0)
				return 0;
			return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_NET,
			    "4.4.2", "connection closed inside a line");
		}
		mxk_buf_commit(in, (size_t)r);
	}
}

void
mxk_conn_free(struct mxk_conn *c)
{
	if (c == NULL)
		return;
	conn_close_ops(c);
	if (c->fd != -1)
		(void)close(c->fd);
	free(c);
}

int
mxk_conn_detach(struct mxk_conn *c)
{
	int	fd;

	if (c == NULL)
		return -1;
	conn_close_ops(c);
	fd = c->fd;
	free(c);
	return fd;
}

/*
 * Addresses.
 */
int
mxk_net_addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)
		    ->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)
		    ->sin6_port);
	return 0;
}

const char *
mxk_net_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	socklen_t	slen;

	if (len == 0)
		return buf;
	if (sa->sa_family == AF_INET)
		slen = sizeof(struct sockaddr_in);
	else if (sa->sa_family == AF_INET6)
		slen = sizeof(struct sockaddr_in6);
	else {
		(void)snprintf(buf, len, "?");
		return buf;
	}
	if (getnameinfo(sa, slen, buf, (socklen_t)(len > INT_MAX ? INT_MAX :
	    len), NULL, 0, NI_NUMERICHOST) != 0)
		(void)snprintf(buf, len, "?");
	return buf;
}

const char *
mxk_net_addr_port_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char	a[MXK_NET_ADDRSTRLEN];
	int	r;

	(void)mxk_net_addr_str(sa, a, sizeof(a));
	if (sa->sa_family == AF_INET6)
		r = snprintf(buf, len, "[%s]:%d", a, mxk_net_addr_port(sa));
	else
		r = snprintf(buf, len, "%s:%d", a, mxk_net_addr_port(sa));
	if (r < 0 || (size_t)r >= len)
		(void)snprintf(buf, len, "?");
	return buf;
}

/* addr in host order; prefix match of the top `bits` bits. */
static int
v4_in(uint32_t addr, uint32_t net, int bits)
{
	uint32_t	mask = bits == 0 ? 0 : 0xffffffffU << (32 - bits);

	return (addr & mask) == (net & mask);
}

static int
v4_is_special(uint32_t a)
{
	static const struct {
		uint32_t	net;
		int		bits;
	} nets[] = {
		{ 0x00000000, 8 },	/* "this network", 0.0.0.0 */
		{ 0x0a000000, 8 },	/* 10/8, RFC 1918 */
		{ 0x64400000, 10 },	/* 100.64/10, RFC 6598 CGNAT */
		{ 0x7f000000, 8 },	/* loopback */
		{ 0xa9fe0000, 16 },	/* 169.254/16 link-local */
		{ 0xac100000, 12 },	/* 172.16/12, RFC 1918 */
		{ 0xc0a80000, 16 },	/* 192.168/16, RFC 1918 */
		{ 0xe0000000, 4 },	/* multicast */
		{ 0xffffffff, 32 },	/* limited broadcast */
	};
	size_t	i;

	for (i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
		if (v4_in(a, nets[i].net, nets[i].bits))
			return 1;
	return 0;
}

static int
v6_is_special(const unsigned char *b)
{
	static const unsigned char zero[16];

	if (memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1))
		return 1;			/* :: and ::1 */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return 1;			/* fe80::/10 link-local */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return 1;			/* fec0::/10 site-local */
	if ((b[0] & 0xfe) == 0xfc)
		return 1;			/* fc00::/7 ULA */
	if (b[0] == 0xff)
		return 1;			/* multicast */
	return 0;
}

static int
v6_mapped(const unsigned char *b)
{
	static const unsigned char pre[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};

	return memcmp(b, pre, sizeof(pre)) == 0;
}

/*
 * Reduce an address to (family, bytes): IPv4-mapped IPv6 becomes IPv4 so
 * that ::ffff:127.0.0.1 is judged as 127.0.0.1.
 */
static int
addr_key(const struct sockaddr *sa, unsigned char *out)
{
	const struct sockaddr_in	*s4;
	const struct sockaddr_in6	*s6;

	if (sa->sa_family == AF_INET) {
		s4 = (const struct sockaddr_in *)(const void *)sa;
		memcpy(out, &s4->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (v6_mapped(s6->sin6_addr.s6_addr)) {
			memcpy(out, s6->sin6_addr.s6_addr + 12, 4);
			return AF_INET;
		}
		memcpy(out, s6->sin6_addr.s6_addr, 16);
		return AF_INET6;
	}
	return -1;
}

int
mxk_net_addr_is_local(const struct sockaddr *sa)
{
	unsigned char	 k[16], ik[16];
	struct ifaddrs	*ifa, *i;
	uint32_t	 a4;
	int		 fam, ifam, found = 0;

	/* An unknown family cannot be a public destination. */
	if ((fam = addr_key(sa, k)) == -1)
		return 1;
	if (fam == AF_INET) {
		a4 = (uint32_t)k[0] << 24 | (uint32_t)k[1] << 16 |
		    (uint32_t)k[2] << 8 | k[3];
		if (v4_is_special(a4))
			return 1;
	} else if (v6_is_special(k))
		return 1;

	/*
	 * A public address of our own: delivering to it would loop back to
	 * this host (RFC 5321 §5.1 asks to skip such MX records).
	 */
	if (getifaddrs(&ifa) == -1)
		return 0;
	for (i = ifa; i != NULL && !found; i = i->ifa_next) {
		if (i->ifa_addr == NULL)
			continue;
		if ((ifam = addr_key(i->ifa_addr, ik)) != fam)
			continue;
		if (memcmp(k, ik, fam == AF_INET ? 4 : 16) == 0)
			found = 1;
	}
	freeifaddrs(ifa);
	return found;
}

/*
 * Host and port parsing.
 */
static int
parse_port(const char *s, int *port)
{
	char		*end;
	unsigned long	 v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

static int
is_v6_literal(const char *s)
{
	struct addrinfo	 hints, *res;
	const char	*zone;
	size_t		 n;

	if (strchr(s, ':') == NULL)
		return 0;
	/*
	 * Hex digits, colons and dots (an embedded IPv4 address), then an
	 * optional "%zone" of interface-name characters.  glibc accepts
	 * nearly anything after the '%' (fuzz_net found "fe80::1%lo::[/~"
	 * passing as a literal), so the zone is checked here.
	 */
	n = strspn(s, "0123456789abcdefABCDEF:.");
	if (s[n] != '\0') {
		zone = s + n;
		if (*zone != '%' || zone[1] == '\0' || strspn(zone + 1,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789._-") != strlen(zone + 1))
			return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET6;
	hints.ai_flags = AI_NUMERICHOST;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(s, NULL, &hints, &res) != 0)
		return 0;
	freeaddrinfo(res);
	return 1;
}

static int
host_chars_ok(const char *s, size_t n)
{
	size_t	i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char	ch = (unsigned char)s[i];

		if (ch <= 0x20 || ch == 0x7f || strchr("[]/@:\\", ch) != NULL)
			return 0;
	}
	return 1;
}

int
mxk_net_parse_hostport(const char *s, char *host, size_t hostlen, int *port,
    int defport, struct mxk_err *e)
{
	const char	*h, *p, *rb, *colon;
	size_t		 hl;
	char		 tmp[MXK_NET_HOSTMAX];

	if (s == NULL || *s == '\0')
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "empty host");
	p = NULL;
	if (*s == '[') {
		if ((rb = strchr(s, ']')) == NULL)
			return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL,
			    NULL, "%s: missing ']'", s);
		h = s + 1;
		hl = (size_t)(rb - h);
		if (rb[1] == ':')
			p = rb + 2;
		else if (rb[1] != '\0')
			return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL,
			    NULL, "%s: junk after ']'", s);
		if (hl == 0 || hl >= sizeof(tmp))
			return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL,
			    NULL, "%s: bad IPv6 literal", s);
		memcpy(tmp, h, hl);
		tmp[hl] = '\0';
		if (!is_v6_literal(tmp))
			return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL,
			    NULL, "%s: bad IPv6 literal", s);
	} else if ((colon = strchr(s, ':')) != NULL &&
	    strchr(colon + 1, ':') != NULL) {
		/* Two or more colons and no brackets: a bare IPv6 literal. */
		h = s;
		hl = strlen(s);
		if (hl >= sizeof(tmp) || !is_v6_literal(s))
			return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL,
			    NULL, "%s: bad IPv6 literal", s);
	} else {
		h = s;
		hl = colon != NULL ? (size_t)(colon - s) : strlen(s);
		if (colon != NULL)
			p = colon + 1;
		if (!host_chars_ok(h, hl))
			return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL,
			    NULL, "%s: bad host name", s);
	}
	if (hl >= hostlen || hl >= MXK_NET_HOSTMAX)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "%s: host name too long", s);
	if (p != NULL) {
		if (parse_port(p, port) == -1)
			return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL,
			    NULL, "%s: bad port", s);
	} else
		*port = defport;
	memcpy(host, h, hl);
	host[hl] = '\0';
	return 0;
}

int
mxk_net_parse_proxy(const char *url, struct mxk_net_proxy *px,
    struct mxk_err *e)
{
	const char	*rest, *at, *colon, *end;
	char		 hp[MXK_NET_HOSTMAX + 16];
	size_t		 n, ul;

	memset(px, 0, sizeof(*px));
	if (url == NULL)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "empty proxy URL");
	if (strncasecmp(url, "socks5h://", 10) == 0) {
		px->remote_dns = 1;
		rest = url + 10;
	} else if (strncasecmp(url, "socks5://", 9) == 0) {
		px->remote_dns = 0;
		rest = url + 9;
	} else
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "%s: proxy URL must start with socks5h:// or socks5://",
		    url);

	n = strlen(rest);
	if (n > 0 && rest[n - 1] == '/')
		n--;
	end = rest + n;
	if (memchr(rest, '/', n) != NULL)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "%s: unexpected path in proxy URL", url);

	/* Credentials end at the last '@' (a password may hold one). */
	at = NULL;
	for (colon = rest; colon < end; colon++)
		if (*colon == '@')
			at = colon;
	if (at != NULL) {
		colon = memchr(rest, ':', (size_t)(at - rest));
		ul = (size_t)((colon != NULL ? colon : at) - rest);
		if (ul == 0 || ul >= sizeof(px->user))
			return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL,
			    NULL, "proxy URL: bad user name");
		memcpy(px->user, rest, ul);
		px->user[ul] = '\0';
		if (colon != NULL) {
			ul = (size_t)(at - colon - 1);
			if (ul >= sizeof(px->pass)) {
				explicit_bzero(px, sizeof(*px));
				return mxk_err_set(e, MXK_ERR_USAGE,
				    MXK_SRC_LOCAL, NULL,
				    "proxy URL: password too long");
			}
			memcpy(px->pass, colon + 1, ul);
			px->pass[ul] = '\0';
		}
		rest = at + 1;
	}
	n = (size_t)(end - rest);
	if (n == 0 || n >= sizeof(hp)) {
		explicit_bzero(px, sizeof(*px));
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "proxy URL: bad host");
	}
	memcpy(hp, rest, n);
	hp[n] = '\0';
	if (mxk_net_parse_hostport(hp, px->host, sizeof(px->host), &px->port,
	    1080, e) == -1) {
		explicit_bzero(px, sizeof(*px));
		mxk_err_prefix(e, "proxy URL");
		return -1;
	}
	return 0;
}

/*
 * Staggered connect.
 */
static const char *const outcome_names[MXK_NET__COUNT] = {
	[MXK_NET_CONNECTED] = "connected",
	[MXK_NET_REFUSED] = "refused",
	[MXK_NET_UNREACHABLE] = "unreachable",
	[MXK_NET_TIMEOUT] = "timeout",
	[MXK_NET_ABORTED] = "aborted",
	[MXK_NET_REJECTED] = "rejected",
	[MXK_NET_ERROR] = "error",
};

const char *
mxk_net_outcome_name(enum mxk_net_outcome o)
{
	if ((int)o < 0 || o >= MXK_NET__COUNT)
		return "unknown";
	return outcome_names[o];
}

void
mxk_net_params_init(struct mxk_net_params *p)
{
	memset(p, 0, sizeof(*p));
	p->connect_timeout_ms = CONNECT_TIMEOUT_DEFAULT;
	p->attempt_delay_ms = ATTEMPT_DELAY_DEFAULT;
	p->deadline = MXK_DEADLINE_NONE;
}

static enum mxk_net_outcome
classify_errno(int errnum)
{
	switch (errnum) {
	case ECONNREFUSED:
		return MXK_NET_REFUSED;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
		return MXK_NET_UNREACHABLE;
	case ETIMEDOUT:
		return MXK_NET_TIMEOUT;
	default:
		return MXK_NET_ERROR;
	}
}

enum slot_state { SLOT_IDLE, SLOT_ACTIVE, SLOT_DONE };

struct slot {
	enum slot_state		 state;
	int			 fd;
	long long		 start;		/* absolute, ms */
	long long		 tdl;		/* attempt deadline */
	struct mxk_net_attempt	 a;
};

struct race {
	const struct mxk_net_target	*t;
	size_t				 n;
	struct slot			*s;
	long long			 t0;
	const struct mxk_net_params	*p;
};

static const char *
target_host(const struct mxk_net_target *t)
{
	return t->host != NULL ? t->host : "";
}

static void
slot_finish(struct race *r, size_t i, enum mxk_net_outcome o, int errnum,
    const char *detail)
{
	struct slot	*s = &r->s[i];
	long long	 now = mxk_now_ms();

	if (s->fd != -1) {
		(void)close(s->fd);
		s->fd = -1;
	}
	s->state = SLOT_DONE;
	s->a.outcome = o;
	s->a.sys_errno = errnum;
	s->a.elapsed_ms = now - s->start;
	if (detail != NULL)
		(void)snprintf(s->a.detail, sizeof(s->a.detail), "%s", detail);
	else if (errnum != 0)
		(void)snprintf(s->a.detail, sizeof(s->a.detail), "%s",
		    strerror(errnum));
	else
		(void)snprintf(s->a.detail, sizeof(s->a.detail), "%s",
		    mxk_net_outcome_name(o));
	mxk_log(o == MXK_NET_ABORTED ? MXK_LOG_DEBUG : MXK_LOG_INFO,
	    "connect %s%s%s%s: %s after %lld ms: %s", s->a.addr,
	    r->t[i].host != NULL ? " (" : "", target_host(&r->t[i]),
	    r->t[i].host != NULL ? ")" : "", mxk_net_outcome_name(o),
	    s->a.elapsed_ms, s->a.detail);
}

/*
 * Start target i.  Returns 1 when the connect is in progress, 2 when it
 * completed at once, 0 when it failed (recorded).
 */
static int
slot_start(struct race *r, size_t i, long long deadline, int ctimeout)
{
	const struct mxk_net_target	*t = &r->t[i];
	const struct mxk_net_params	*p = r->p;
	struct slot			*s = &r->s[i];
	const struct sockaddr		*sa, *local = NULL;
	socklen_t			 locallen = 0;
	char				 d[MXK_NET_DETAILMAX];
	char				 la[MXK_NET_ADDRSTRLEN];
	int				 fam, rc;

	sa = (const struct sockaddr *)&t->addr;
	fam = sa->sa_family;
	s->state = SLOT_ACTIVE;
	s->fd = -1;
	s->start = mxk_now_ms();
	s->tdl = min_ll(deadline, s->start + ctimeout);
	s->a.target = i;
	s->a.started_ms = s->start - r->t0;
	s->a.connect_ms = -1;
	(void)mxk_net_addr_port_str(sa, s->a.addr, sizeof(s->a.addr));
	mxk_log(MXK_LOG_DEBUG, "connect %s%s%s%s: attempt %zu started",
	    s->a.addr, t->host != NULL ? " (" : "", target_host(t),
	    t->host != NULL ? ")" : "", i);

	if ((fam != AF_INET && fam != AF_INET6) || t->addrlen == 0 ||
	    t->addrlen > sizeof(t->addr)) {
		slot_finish(r, i, MXK_NET_ERROR, 0, "unsupported address");
		return 0;
	}
	if ((s->fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		rc = errno;
		(void)snprintf(d, sizeof(d), "socket: %s", strerror(rc));
		slot_finish(r, i, rc == EAFNOSUPPORT ? MXK_NET_UNREACHABLE :
		    MXK_NET_ERROR, rc, d);
		return 0;
	}
	if (fam == AF_INET && p->local4 != NULL) {
		local = p->local4;
		locallen = p->local4len;
	} else if (fam == AF_INET6 && p->local6 != NULL) {
		local = p->local6;
		locallen = p->local6len;
	}
	if (local != NULL && bind(s->fd, local, locallen) == -1) {
		rc = errno;
		(void)snprintf(d, sizeof(d), "bind to %s: %s",
		    mxk_net_addr_str(local, la, sizeof(la)), strerror(rc));
		slot_finish(r, i, MXK_NET_ERROR, rc, d);
		return 0;
	}
	if (connect(s->fd, sa, t->addrlen) == 0)
		return 2;
	if (errno == EINPROGRESS || errno == EINTR)
		return 1;
	rc = errno;
	slot_finish(r, i, classify_errno(rc), rc, NULL);
	return 0;
}

static void
race_summary(struct race *r, size_t started, size_t last, struct mxk_err *e)
{
	size_t	count[MXK_NET__COUNT], i;
	char	list[256];
	size_t	off = 0;
	int	w;

	memset(count, 0, sizeof(count));
	for (i = 0; i < started; i++)
		count[r->s[i].a.outcome]++;
	list[0] = '\0';
	for (i = 0; i < MXK_NET__COUNT; i++) {
		if (count[i] == 0)
			continue;
		w = snprintf(list + off, sizeof(list) - off, "%s%zu %s",
		    off > 0 ? ", " : "", count[i],
		    mxk_net_outcome_name((enum mxk_net_outcome)i));
		if (w < 0 || (size_t)w >= sizeof(list) - off)
			break;
		off += (size_t)w;
	}
	if (started < r->n) {
		w = snprintf(list + off, sizeof(list) - off, "%s%zu not tried",
		    off > 0 ? ", " : "", r->n - started);
		if (w > 0 && (size_t)w < sizeof(list) - off)
			off += (size_t)w;
	}
	if (started == 0)
		(void)mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_NET, "4.4.1",
		    "no host reachable: deadline passed before any attempt");
	else
		(void)mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_NET, "4.4.1",
		    "no host reachable: %zu attempt%s (%s); last: %s%s%s%s: %s",
		    started, started == 1 ? "" : "s", list, r->s[last].a.addr,
		    r->t[last].host != NULL ? " (" : "",
		    target_host(&r->t[last]),
		    r->t[last].host != NULL ? ")" : "", r->s[last].a.detail);
	if (e != NULL && started > 0)
		e->sys_errno = r->s[last].a.sys_errno;
}

int
mxk_net_connect(const struct mxk_net_target *t, size_t n,
    const struct mxk_net_params *p, struct mxk_net_attempt *att,
    size_t *natt, size_t *winner, int *fdp, struct mxk_err *e)
{
	struct race	 r;
	struct pollfd	*pfd = NULL;
	size_t		*pidx = NULL;
	size_t		 next = 0, nactive = 0, np, i, cap, last = 0, win;
	long long	 now, wake, deadline, newest = 0;
	int		 ctimeout, delay, kick = 0, rc, so, have_win;
	int		 result = -1;
	socklen_t	 solen;
	struct mxk_err	 herr;
	char		 d[MXK_NET_DETAILMAX];

	cap = natt != NULL ? *natt : 0;
	if (natt != NULL)
		*natt = 0;
	*fdp = -1;
	if (n == 0)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_NET, NULL,
		    "no address to connect to");
	memset(&r, 0, sizeof(r));
	r.t = t;
	r.n = n;
	r.p = p;
	r.t0 = mxk_now_ms();
	ctimeout = p->connect_timeout_ms > 0 ? p->connect_timeout_ms :
	    CONNECT_TIMEOUT_DEFAULT;
	delay = p->attempt_delay_ms > 0 ? p->attempt_delay_ms : 0;
	deadline = p->deadline;
	r.s = calloc(n, sizeof(*r.s));
	pfd = calloc(n, sizeof(*pfd));
	pidx = calloc(n, sizeof(*pidx));
	if (r.s == NULL || pfd == NULL || pidx == NULL) {
		(void)mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		r.s[i].fd = -1;

	/*
	 * The loop ends when a winner passes the hook, when every target
	 * has been tried and none is in progress, or at the deadline.  Each
	 * round either starts a target, or polls until the earliest of: an
	 * attempt's deadline, the next stagger point, the overall deadline.
	 */
	for (;;) {
		have_win = 0;
		win = 0;
		now = mxk_now_ms();
		if (now >= deadline) {
			for (i = 0; i < next; i++)
				if (r.s[i].state == SLOT_ACTIVE) {
					slot_finish(&r, i, MXK_NET_TIMEOUT,
					    ETIMEDOUT, "overall deadline passed");
					last = i;
				}
			nactive = 0;
			break;
		}

		/*
		 * RFC 8305 §5: start the next attempt when nothing is in
		 * progress, when an attempt has just failed, or when the
		 * newest attempt has been waiting for attempt_delay_ms.
		 */
		while (next < n && (nactive == 0 || kick ||
		    (delay > 0 && now - newest >= delay))) {
			kick = 0;
			i = next++;
			rc = slot_start(&r, i, deadline, ctimeout);
			now = mxk_now_ms();
			if (rc == 0) {
				last = i;
				kick = 1;
				continue;
			}
			nactive++;
			newest = r.s[i].start;
			if (rc == 2) {
				have_win = 1;
				win = i;
				break;
			}
			if (now >= deadline)
				break;
		}
		kick = 0;

		if (!have_win) {
			if (nactive == 0)
				break;
			wake = deadline;
			np = 0;
			for (i = 0; i < next; i++) {
				if (r.s[i].state != SLOT_ACTIVE)
					continue;
				wake = min_ll(wake, r.s[i].tdl);
				pfd[np].fd = r.s[i].fd;
				pfd[np].events = POLLOUT;
				pfd[np].revents = 0;
				pidx[np++] = i;
			}
			if (next < n && delay > 0)
				wake = min_ll(wake, newest + delay);
			rc = poll(pfd, (nfds_t)np, mxk_ms_left(wake));
			if (rc == -1 && errno != EINTR) {
				(void)net_errno(e, errno, NULL, "poll");
				if (e != NULL)
					e->class = MXK_ERR_INTERNAL;
				goto out;
			}
			now = mxk_now_ms();
			for (i = 0; rc > 0 && i < np; i++) {
				struct slot *s = &r.s[pidx[i]];

				if (pfd[i].revents == 0)
					continue;
				so = 0;
				solen = sizeof(so);
				if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &so,
				    &solen) == -1)
					so = errno;
				if (so == 0) {
					if (!have_win) {
						have_win = 1;
						win = pidx[i];
					}
					continue;
				}
				if (so == EINPROGRESS || so == EALREADY ||
				    so == EINTR)
					continue;
				slot_finish(&r, pidx[i], classify_errno(so), so,
				    NULL);
				last = pidx[i];
				nactive--;
				kick = 1;
			}
			for (i = 0; !have_win && i < np; i++) {
				struct slot *s = &r.s[pidx[i]];

				if (s->state != SLOT_ACTIVE || now < s->tdl)
					continue;
				slot_finish(&r, pidx[i], MXK_NET_TIMEOUT,
				    ETIMEDOUT, now >= deadline ?
				    "overall deadline passed" :
				    "connect timed out");
				last = pidx[i];
				nactive--;
				kick = 1;
			}
		}
		if (!have_win)
			continue;

		r.s[win].a.connect_ms = mxk_now_ms() - r.s[win].start;
		mxk_log(MXK_LOG_DEBUG, "connect %s: TCP connected in %lld ms",
		    r.s[win].a.addr, r.s[win].a.connect_ms);
		/*
		 * The hook (the greeting) first: the attempts still in
		 * progress go on meanwhile, and if it refuses, the race goes
		 * on with them, so that a slower, preferred MX is not lost
		 * to a quicker one that then turns the client away.
		 */
		if (p->post_connect != NULL) {
			mxk_err_clear(&herr);
			if (p->post_connect(r.s[win].fd, &t[win], p->post_arg,
			    deadline, &herr) == -1) {
				copy_trunc(d, sizeof(d), herr.msg[0] != '\0' ?
				    herr.msg : "post-connect check failed");
				slot_finish(&r, win, MXK_NET_REJECTED,
				    herr.sys_errno, d);
				last = win;
				nactive--;
				kick = 1;
				continue;
			}
		}
		/* A winner: close every other attempt still in progress. */
		for (i = 0; i < next; i++)
			if (i != win && r.s[i].state == SLOT_ACTIVE)
				slot_finish(&r, i, MXK_NET_ABORTED, 0,
				    "another attempt connected first");
		nactive = 0;
		kick = 0;
		r.s[win].state = SLOT_DONE;
		r.s[win].a.outcome = MXK_NET_CONNECTED;
		r.s[win].a.elapsed_ms = mxk_now_ms() - r.s[win].start;
		(void)snprintf(r.s[win].a.detail, sizeof(r.s[win].a.detail),
		    "connected in %lld ms", r.s[win].a.connect_ms);
		mxk_log(MXK_LOG_INFO, "connect %s%s%s%s: connected in %lld ms",
		    r.s[win].a.addr, t[win].host != NULL ? " (" : "",
		    target_host(&t[win]), t[win].host != NULL ? ")" : "",
		    r.s[win].a.connect_ms);
		*fdp = r.s[win].fd;
		r.s[win].fd = -1;
		if (winner != NULL)
			*winner = win;
		mxk_err_clear(e);
		result = 0;
		break;
	}
	if (result == -1)
		race_summary(&r, next, last, e);

out:
	if (r.s != NULL) {
		for (i = 0; i < n; i++)
			if (r.s[i].fd != -1) {
				(void)close(r.s[i].fd);
				r.s[i].fd = -1;
				if (r.s[i].state == SLOT_ACTIVE) {
					r.s[i].state = SLOT_DONE;
					r.s[i].a.outcome = MXK_NET_ERROR;
				}
			}
		if (att != NULL)
			for (i = 0; i < next && i < cap; i++)
				att[i] = r.s[i].a;
		if (natt != NULL)
			*natt = next < cap ? next : cap;
	}
	free(r.s);
	free(pfd);
	free(pidx);
	return result;
}

/*
 * SOCKS5, RFC 1928; username/password RFC 1929.
 */
static const char *
socks5_reply_text(int rep)
{
	/* RFC 1928 §6, field REP. */
	static const char *const text[] = {
		"succeeded",
		"general SOCKS server failure",
		"connection not allowed by ruleset",
		"network unreachable",
		"host unreachable",
		"connection refused",
		"TTL expired",
		"command not supported",
		"address type not supported",
	};

	if (rep < 0 || (size_t)rep >= sizeof(text) / sizeof(text[0]))
		return "unknown error";
	return text[rep];
}

/* Read exactly len bytes: the proxy's reply and nothing after it. */
static int
read_exact(int fd, unsigned char *buf, size_t len, long long deadline,
    struct mxk_err *e)
{
	ssize_t	r;
	size_t	got = 0;

	while (got < len) {
		r = mxk_net_read(fd, buf + got, len - got, deadline, e);
		if (r == -1) {
			mxk_err_prefix(e, "SOCKS5 proxy");
			return -1;
		}
		if (r == 0)
			return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_NET, "4.4.1",
			    "SOCKS5 proxy closed the connection");
		got += (size_t)r;
	}
	return 0;
}

static int
socks5_send(int fd, const unsigned char *buf, size_t len, long long deadline,
    struct mxk_err *e)
{
	if (mxk_net_write_all(fd, buf, len, deadline, e) == -1) {
		mxk_err_prefix(e, "SOCKS5 proxy");
		return -1;
	}
	return 0;
}

static int
socks5_auth(int fd, const char *user, const char *pass, long long deadline,
    struct mxk_err *e)
{
	unsigned char	req[3 + 255 + 255], rep[2];
	size_t		ul, pl, n;
	int		rc;

	ul = strlen(user);
	pl = pass != NULL ? strlen(pass) : 0;
	if (ul == 0 || ul > 255 || pl > 255)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_NET, NULL,
		    "SOCKS5: user name or password longer than 255 bytes");
	/* RFC 1929 §2: VER 1, ULEN, UNAME, PLEN, PASSWD. */
	n = 0;
	req[n++] = 1;
	req[n++] = (unsigned char)ul;
	memcpy(req + n, user, ul);
	n += ul;
	req[n++] = (unsigned char)pl;
	if (pl > 0)
		memcpy(req + n, pass, pl);
	n += pl;
	rc = socks5_send(fd, req, n, deadline, e);
	explicit_bzero(req, sizeof(req));
	if (rc == -1 || read_exact(fd, rep, 2, deadline, e) == -1)
		return -1;
	if (rep[0] != 1 || rep[1] != 0)
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_NET, "4.4.1",
		    "SOCKS5 proxy: authentication failed (%u)", rep[1]);
	return 0;
}

int
mxk_net_socks5_handshake(int fd, const char *host, int port,
    const char *user, const char *pass, long long deadline,
    struct mxk_err *e)
{
	unsigned char	req[4 + 1 + 255 + 2], rep[4 + 255 + 2];
	struct in_addr	a4;
	struct in6_addr	a6;
	size_t		n, hl;

	if (host == NULL || (hl = strlen(host)) == 0 || hl > 255)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_NET, NULL,
		    "SOCKS5: bad host name length");
	if (port < 1 || port > 65535)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_NET, NULL,
		    "SOCKS5: bad port %d", port);

	/* §3: VER 5, NMETHODS, METHODS: 0x00 none, 0x02 user/pass. */
	n = 0;
	req[n++] = 5;
	if (user != NULL && *user != '\0') {
		req[n++] = 2;
		req[n++] = 0x00;
		req[n++] = 0x02;
	} else {
		req[n++] = 1;
		req[n++] = 0x00;
	}
	if (socks5_send(fd, req, n, deadline, e) == -1 ||
	    read_exact(fd, rep, 2, deadline, e) == -1)
		return -1;
	if (rep[0] != 5)
		return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_NET, "4.4.1",
		    "SOCKS5 proxy: bad version %u in reply", rep[0]);
	if (rep[1] == 0x02 && user != NULL && *user != '\0') {
		if (socks5_auth(fd, user, pass, deadline, e) == -1)
			return -1;
	} else if (rep[1] == 0xff)
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_NET, "4.4.1",
		    "SOCKS5 proxy: no acceptable authentication method");
	else if (rep[1] != 0x00)
		return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_NET, "4.4.1",
		    "SOCKS5 proxy: chose method %u that was not offered",
		    rep[1]);

	/* §4: VER 5, CMD 1 CONNECT, RSV 0, ATYP, DST.ADDR, DST.PORT. */
	n = 0;
	req[n++] = 5;
	req[n++] = 1;
	req[n++] = 0;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		req[n++] = 1;
		memcpy(req + n, &a4, 4);
		n += 4;
	} else if (inet_pton(AF_INET6, host, &a6) == 1) {
		req[n++] = 4;
		memcpy(req + n, &a6, 16);
		n += 16;
	} else {
		/* ATYP 3: the proxy resolves the name (socks5h). */
		req[n++] = 3;
		req[n++] = (unsigned char)hl;
		memcpy(req + n, host, hl);
		n += hl;
	}
	req[n++] = (unsigned char)(port >> 8);
	req[n++] = (unsigned char)(port & 0xff);
	if (socks5_send(fd, req, n, deadline, e) == -1)
		return -1;

	/* §6: VER, REP, RSV, ATYP, BND.ADDR, BND.PORT; read no further. */
	if (read_exact(fd, rep, 4, deadline, e) == -1)
		return -1;
	if (rep[0] != 5)
		return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_NET, "4.4.1",
		    "SOCKS5 proxy: bad version %u in reply", rep[0]);
	if (rep[1] != 0)
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_NET, "4.4.1",
		    "SOCKS5 proxy: %s (%u)", socks5_reply_text(rep[1]),
		    rep[1]);
	switch (rep[3]) {
	case 1:
		n = 4 + 2;
		break;
	case 4:
		n = 16 + 2;
		break;
	case 3:
		if (read_exact(fd, rep, 1, deadline, e) == -1)
			return -1;
		n = (size_t)rep[0] + 2;
		break;
	default:
		return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_NET, "4.4.1",
		    "SOCKS5 proxy: bad address type %u in reply", rep[3]);
	}
	if (read_exact(fd, rep, n, deadline, e) == -1)
		return -1;
	mxk_log(MXK_LOG_DEBUG, "SOCKS5 proxy: connected to %s port %d", host,
	    port);
	return 0;
}

int
mxk_net_socks5_connect(const struct sockaddr *proxy, socklen_t proxylen,
    const char *host, int port, long long deadline, int *fd,
    struct mxk_err *e)
{
	struct mxk_net_target	t;
	struct mxk_net_params	p;
	struct mxk_net_attempt	a;
	size_t			na = 1, w;

	*fd = -1;
	if (proxylen == 0 || proxylen > sizeof(t.addr))
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_NET, NULL,
		    "SOCKS5: bad proxy address");
	memset(&t, 0, sizeof(t));
	memcpy(&t.addr, proxy, proxylen);
	t.addrlen = proxylen;
	t.host = "SOCKS5 proxy";
	mxk_net_params_init(&p);
	p.deadline = deadline;
	p.connect_timeout_ms = mxk_ms_left(deadline);
	if (p.connect_timeout_ms == 0)
		p.connect_timeout_ms = 1;
	p.attempt_delay_ms = 0;
	if (mxk_net_connect(&t, 1, &p, &a, &na, &w, fd, e) == -1) {
		if (na == 1 && e != NULL)
			(void)snprintf(e->msg, sizeof(e->msg),
			    "SOCKS5 proxy %s: %s", a.addr, a.detail);
		return -1;
	}
	if (mxk_net_socks5_handshake(*fd, host, port, NULL, NULL, deadline,
	    e) == -1) {
		(void)close(*fd);
		*fd = -1;
		return -1;
	}
	return 0;
}

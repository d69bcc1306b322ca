/* ISC license. */

/*
 * net: sockets with deadlines, a swappable transport, staggered parallel
 * connect (RFC 8305 style), a SOCKS5 client, and address helpers.
 *
 * Every blocking-style call takes an absolute CLOCK_MONOTONIC deadline
 * (lib/clock.h; MXK_DEADLINE_NONE for none) and waits with mxk_net_wait(),
 * one poll() on a non-blocking fd.  Functions return 0 (or a count) and -1
 * with a filled struct mxk_err.  Network failures are MXK_ERR_TEMP, source
 * MXK_SRC_NET, with RFC 3463 statuses as Postfix uses them:
 *   4.4.1  "no answer from host": connect refused, unreachable, timed out;
 *   4.4.2  "bad connection": an established connection timed out, was reset
 *          or closed while a line or a reply was expected.
 * Reads return 0 at end of file; that is not an error at this level.
 *
 * Transport.  A struct mxk_conn owns one non-blocking fd and a set of
 * operations (struct mxk_conn_ops).  By default they read and write the fd;
 * after STARTTLS the TLS module installs its own with mxk_conn_set_ops() and
 * the deadline logic stays here: an operation that cannot proceed returns
 * MXK_CONN_WANT_READ or MXK_CONN_WANT_WRITE (GNUTLS_E_AGAIN plus
 * gnutls_record_get_direction()), mxk_conn_* polls the fd for that and
 * calls the operation again until the deadline.  mxk_conn_free() closes the
 * fd.  Lines are read into a caller-owned struct mxk_buf with a limit.
 *
 * Connect.  mxk_net_connect() races a list of targets: attempt 0 starts;
 * when the newest attempt has not completed after attempt_delay_ms the next
 * target starts while earlier ones keep trying; a failed attempt starts the
 * next target at once.  The first TCP connect to complete wins and every
 * other attempt is closed ("aborted").  An optional post_connect hook runs
 * on the winner (e.g. read the SMTP greeting); when it fails the attempt is
 * recorded as "rejected" and the race resumes with the next untried target.
 * Every attempt is recorded in a caller-supplied array.  net never parses
 * SMTP; the hook does.
 *
 * SOCKS5 (RFC 1928) with no authentication or username/password (RFC
 * 1929).  Names are sent to the proxy (ATYP 3, "socks5h" semantics); IP
 * literals go as ATYP 1 or 4.  A "socks5://" proxy means the caller resolves
 * names itself and passes the literal.
 *
 * Nothing here changes signal dispositions: the program ignores SIGPIPE;
 * socket writes use MSG_NOSIGNAL all the same.
 */
#ifndef MXK_NET_H
#define MXK_NET_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

#define MXK_NET_ADDRSTRLEN	80	/* "[v6%scope]:port" and NUL */
#define MXK_NET_HOSTMAX		256	/* host names, NUL included */
#define MXK_NET_DETAILMAX	200

/*
 * Wait until fd has one of the poll(2) events (POLLIN, POLLOUT) or the
 * deadline passes.  Returns the revents (> 0), 0 on timeout, -1 on a poll
 * failure (errno set).  EINTR restarts the wait with the time left.
 */
int	 mxk_net_wait(int fd, int events, long long deadline);

/* Set O_NONBLOCK; 0 or -1 (errno set). */
int	 mxk_net_nonblock(int fd);

/*
 * Read at most len bytes from a non-blocking fd before the deadline.
 * Returns the count (> 0), 0 at end of file, -1 on error or timeout
 * (4.4.2 "read timed out").
 */
ssize_t	 mxk_net_read(int fd, void *, size_t len, long long deadline,
	    struct mxk_err *);
/* Write all len bytes before the deadline; 0 or -1 (4.4.2 on timeout). */
int	 mxk_net_write_all(int fd, const void *, size_t len,
	    long long deadline, struct mxk_err *);
/*
 * Write all len bytes to a blocking fd (a file, a pipe, stderr), through
 * short writes and EINTR; no deadline.  0, or -1 with errno set (EIO when
 * a write took nothing).
 */
int	 mxk_net_write_full(int fd, const void *, size_t len);

/*
 * Transport.  Operation results: > 0 bytes moved; 0 end of file (read);
 * MXK_CONN_WANT_READ / MXK_CONN_WANT_WRITE: poll the fd for that and call
 * again; -1 failure with the error filled.  pending (may be NULL) is the
 * count of bytes already decoded inside the transport (TLS records) that
 * a read returns without touching the fd.  close (may be NULL) frees ctx;
 * it is called by mxk_conn_free() and when the ops are replaced, before
 * the fd is closed, and must not block.
 */
#define MXK_CONN_WANT_READ	(-2)
#define MXK_CONN_WANT_WRITE	(-3)

struct mxk_conn_ops {
	ssize_t	(*read)(void *ctx, void *, size_t, struct mxk_err *);
	ssize_t	(*write)(void *ctx, const void *, size_t, struct mxk_err *);
	size_t	(*pending)(void *ctx);
	void	(*close)(void *ctx);
};

struct mxk_conn;

/* Wrap fd (set non-blocking; owned from now on).  NULL: out of memory. */
struct mxk_conn	*mxk_conn_new_fd(int fd);
/* The same for a socket already non-blocking (accept4 SOCK_NONBLOCK):
 * no system call. */
struct mxk_conn	*mxk_conn_new_sock(int fd);
/* Install ops with ctx; ops NULL goes back to the plain fd. */
void	 mxk_conn_set_ops(struct mxk_conn *, const struct mxk_conn_ops *,
	    void *ctx);
int	 mxk_conn_fd(const struct mxk_conn *);
size_t	 mxk_conn_pending(const struct mxk_conn *);
/* Like mxk_net_read() / mxk_net_write_all(), through the ops. */
ssize_t	 mxk_conn_read(struct mxk_conn *, void *, size_t len,
	    long long deadline, struct mxk_err *);
int	 mxk_conn_write_all(struct mxk_conn *, const void *, size_t len,
	    long long deadline, struct mxk_err *);
/* One try, for event loops: > 0 moved, 0 end of file (read),
 * MXK_CONN_WANT_READ / _WANT_WRITE, or -1 with the error. */
ssize_t	 mxk_conn_read_nb(struct mxk_conn *, void *, size_t,
	    struct mxk_err *);
ssize_t	 mxk_conn_write_nb(struct mxk_conn *, const void *, size_t,
	    struct mxk_err *);
/*
 * Read one line into in (bytes after it stay in in for the next call).
 * limit is the longest accepted line, LF included.  Returns 1 with *line
 * = in->p and *len its length (LF included; remove it afterwards with
 * mxk_buf_consume(in, *len)); 0 at end of file with in empty; -1 on error:
 * no LF within limit bytes (or in->max) is MXK_ERR_PROTO 5.5.0 "line too
 * long" with the bytes left in in (mxk_buf_skipline() can drop them); end
 * of file inside a line is 4.4.2; timeout 4.4.2.
 */
int	 mxk_conn_readline(struct mxk_conn *, struct mxk_buf *in, size_t limit,
	    char **line, size_t *len, long long deadline, struct mxk_err *);
/* Close the ops and the fd, free. */
void	 mxk_conn_free(struct mxk_conn *);
/* Close the ops, free, and return the fd still open (exec hand-off). */
int	 mxk_conn_detach(struct mxk_conn *);

/*
 * Staggered connect.
 */
struct mxk_net_target {
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	const char		*host;	/* for logs; may be NULL */
	int			 pref;	/* the caller's (MX preference) */
	void			*udata;
};

/* Fill with mxk_net_params_init() first, then change what differs. */
struct mxk_net_params {
	int		 connect_timeout_ms;	/* per attempt; <= 0: 30000 */
	int		 attempt_delay_ms;	/* 0: one at a time; default 500 */
	long long	 deadline;		/* overall; MXK_DEADLINE_NONE */
	const struct sockaddr *local4;		/* bind before connect; NULL */
	socklen_t	 local4len;
	const struct sockaddr *local6;
	socklen_t	 local6len;
	/*
	 * Called on each winner with the connected non-blocking fd and the
	 * overall deadline.  Return 0 to accept, -1 (error filled) to count
	 * the attempt as rejected and go on with the next untried target.
	 * The hook must not close fd.
	 */
	int		(*post_connect)(int fd, const struct mxk_net_target *,
			    void *arg, long long deadline, struct mxk_err *);
	void		*post_arg;
};

enum mxk_net_outcome {
	MXK_NET_CONNECTED = 0,
	MXK_NET_REFUSED,	/* ECONNREFUSED */
	MXK_NET_UNREACHABLE,	/* ENETUNREACH, EHOSTUNREACH, ... */
	MXK_NET_TIMEOUT,	/* connect_timeout_ms, the deadline, ETIMEDOUT */
	MXK_NET_ABORTED,	/* closed: another attempt won */
	MXK_NET_REJECTED,	/* post_connect failed */
	MXK_NET_ERROR,		/* anything else (socket, bind, ...) */
	MXK_NET__COUNT
};

struct mxk_net_attempt {
	size_t			 target;	/* index into the targets */
	enum mxk_net_outcome	 outcome;
	int			 sys_errno;
	long long		 started_ms;	/* since mxk_net_connect() began */
	long long		 connect_ms;	/* TCP handshake time; -1: none */
	long long		 elapsed_ms;	/* until the outcome */
	char			 addr[MXK_NET_ADDRSTRLEN];	/* "ip:port" */
	char			 detail[MXK_NET_DETAILMAX];
};

/* Defaults: 30000 ms per attempt, 500 ms delay, no deadline, no hook. */
void	 mxk_net_params_init(struct mxk_net_params *);

/*
 * Race the n targets as described above.  att (capacity *natt, may be
 * NULL with *natt 0) receives one record per attempt started, in order;
 * *natt is set to the count stored.  On success returns 0 with *winner
 * the target index and *fd the connected socket (non-blocking,
 * close-on-exec).  When every target failed: -1, MXK_ERR_TEMP, 4.4.1,
 * "no host reachable: 3 attempts (1 timed out, 2 refused); last: ...".
 */
int	 mxk_net_connect(const struct mxk_net_target *, size_t n,
	    const struct mxk_net_params *, struct mxk_net_attempt *att,
	    size_t *natt, size_t *winner, int *fd, struct mxk_err *);

const char	*mxk_net_outcome_name(enum mxk_net_outcome);

/*
 * SOCKS5.  mxk_net_socks5_handshake() runs the client side on a connected
 * fd (user NULL: method 0x00 only; else 0x02 RFC 1929 is offered too).
 * host is a name (sent as ATYP 3) or an IP literal.  It reads exactly the
 * proxy's reply, so data sent after it stays in the socket.
 * mxk_net_socks5_connect() connects to the proxy within the deadline and
 * runs the handshake without authentication.  A reply code other than 0
 * is MXK_ERR_TEMP 4.4.1 "SOCKS5 proxy: host unreachable (4)".
 */
int	 mxk_net_socks5_handshake(int fd, const char *host, int port,
	    const char *user, const char *pass, long long deadline,
	    struct mxk_err *);
int	 mxk_net_socks5_connect(const struct sockaddr *proxy, socklen_t,
	    const char *host, int port, long long deadline, int *fd,
	    struct mxk_err *);

struct mxk_net_proxy {
	int	 remote_dns;		/* 1 for socks5h:// */
	char	 host[MXK_NET_HOSTMAX];	/* name or literal, no brackets */
	int	 port;			/* default 1080 */
	char	 user[256];		/* "" when none */
	char	 pass[256];
};

/*
 * Parse "socks5h://[USER[:PASS]@]HOST[:PORT][/]" or "socks5://...".  HOST
 * may be "[v6]".  No percent-decoding.  0 or -1 (MXK_ERR_USAGE).
 */
int	 mxk_net_parse_proxy(const char *url, struct mxk_net_proxy *,
	    struct mxk_err *);

/*
 * Parse HOST, HOST:PORT, [V6], [V6]:PORT or a bare V6 literal (two or more
 * colons: no port).  host receives the name or literal without brackets;
 * *port the port or defport.  0 or -1 (MXK_ERR_USAGE).
 */
int	 mxk_net_parse_hostport(const char *, char *host, size_t hostlen,
	    int *port, int defport, struct mxk_err *);

/* Numeric address ("192.0.2.1", "2001:db8::1"); "?" if unprintable. */
const char	*mxk_net_addr_str(const struct sockaddr *, char *, size_t);
/* With the port: "192.0.2.1:25", "[2001:db8::1]:25". */
const char	*mxk_net_addr_port_str(const struct sockaddr *, char *, size_t);
int		 mxk_net_addr_port(const struct sockaddr *);

/*
 * 1 when the address is not a public unicast destination or belongs to
 * this machine: unspecified, loopback, RFC 1918, CGNAT 100.64/10 (RFC
 * 6598), link-local, multicast, broadcast, IPv6 ULA fc00::/7 (RFC 4193)
 * and site-local, the IPv4-mapped forms of these, and any address on a
 * local interface (getifaddrs).  0 otherwise.
 */
int	 mxk_net_addr_is_local(const struct sockaddr *);

#endif

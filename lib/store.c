/* ISC license. */

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "log.h"
#include "net.h"
#include "proc.h"
#include "store.h"

#define NAMEMAX		192	/* a maildir file name, NUL included */
#define HOSTMAX		128	/* the sanitised host name in it */
#define PARTMAX		255	/* a local part or domain as a path element */
#define QIDMAX		64
#define NAMETRIES	8	/* fresh names tried on EEXIST */
#define WAITSTEP_MS	MXK_STORE_STEP_MS	/* longest nap waiting for the
						 * program */
#define MAXFD_LOOP	(1 << 20)
#define NODEST		((size_t)-1)
/* Room after a folder for "/tmp/" and a file name. */
#define FOLDERMAX	(PATH_MAX - NAMEMAX - 8)

#define TEXT_451	"Requested action aborted: local error in processing"
#define TEXT_452	"Insufficient system storage"
#define TEXT_513	"Mailbox name not allowed"

struct dest {
	char	*dir;		/* the folder */
	size_t	 fixed;		/* dir[0..fixed) came from the template */
	size_t	 alias;		/* same folder as an earlier dest, or NODEST */
	dev_t	 dev;
	ino_t	 ino;
	int	 err;		/* errno of its failure, or 0 */
	int	 linked;	/* the message is in its new/ */
};

struct mxk_store_msg {
	enum mxk_store_kind	 kind;
	int			 lmtp;
	size_t			 nrcpt;
	struct mxk_store_result	*res;		/* per recipient; 0: open */
	unsigned long long	 bytes;
	char			 qid[QIDMAX];
	char			 why[MXK_ERR_MSGMAX];	/* first failure */
	int			 why_errno;

	/* MAILDIR */
	struct dest		*dest;
	size_t			 ndest;
	size_t			*rdest;		/* per recipient, or NODEST */
	size_t			 holder;	/* the dest with the tmp file */
	int			 lazy;		/* tmp file still to be opened */
	char			 host[HOSTMAX];	/* for its name */
	char			 name[NAMEMAX];
	char			 tmppath[PATH_MAX];
	int			 fd;
	int			 werr;		/* first write error */
	char			*buf;
	size_t			 blen;

	/* EXEC */
	pid_t			 pid;
	int			 in, errfd;
	long long		 deadline;
	const _Atomic int	*cancel;	/* params.cancel */
	int			 reaped, wstatus, lost, timedout, epipe;
	char			 prog[PATH_MAX];
	char			 line[MXK_STORE_ERRLINE + 1];
	size_t			 linelen;
	int			 linedone;
};

static _Atomic unsigned long	counter;

static int	 fail451(struct mxk_err *, enum mxk_err_class, int,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
static void	 note(struct mxk_store_msg *, enum mxk_log_level, int,
		    const char *, ...) __attribute__((format(printf, 4, 5)));

/*
 * A failure of mxk_store_begin(): the server answers it with 451 4.3.0
 * (RFC 3463 §3.4: other or undefined mail system status).
 */
static int
fail451(struct mxk_err *e, enum mxk_err_class class, int err,
    const char *fmt, ...)
{
	va_list	ap;
	size_t	len;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	(void)mxk_err_vset(e, class, err != 0 ? MXK_SRC_SYS : MXK_SRC_LOCAL,
	    "4.3.0", fmt, ap);
	va_end(ap);
	if (err != 0) {
		len = strlen(e->msg);
		(void)snprintf(e->msg + len, sizeof(e->msg) - len, ": %s",
		    strerror(err));
	}
	e->code = 451;
	e->sys_errno = err;
	return -1;
}

/* Log a failure and keep the first one as the detail for end(). */
static void
note(struct mxk_store_msg *m, enum mxk_log_level level, int err,
    const char *fmt, ...)
{
	char	s[MXK_ERR_MSGMAX];
	va_list	ap;
	size_t	len;

	va_start(ap, fmt);
	(void)vsnprintf(s, sizeof(s), fmt, ap);
	va_end(ap);
	if (err != 0) {
		len = strlen(s);
		(void)snprintf(s + len, sizeof(s) - len, ": %s", strerror(err));
	}
	mxk_log(level, "store: %s", s);
	if (m->why[0] == '\0') {
		(void)snprintf(m->why, sizeof(m->why), "%s", s);
		m->why_errno = err;
	}
}

static void
setres(struct mxk_store_result *r, int code, const char *status,
    const char *text)
{
	r->code = code;
	(void)snprintf(r->status, sizeof(r->status), "%s", status);
	(void)snprintf(r->text, sizeof(r->text), "%s", text);
}

static void
res_ok(const struct mxk_store_msg *m, struct mxk_store_result *r)
{
	r->code = 250;
	(void)snprintf(r->status, sizeof(r->status), "2.0.0");
	if (m->qid[0] != '\0')
		(void)snprintf(r->text, sizeof(r->text), "Ok: queued as %s",
		    m->qid);
	else
		(void)snprintf(r->text, sizeof(r->text), "Ok");
}

/*
 * A file system error as a reply.  Lack of space, a quota and an I/O error
 * are "mail system full" (RFC 3463 §3.4, X.3.1; RFC 5321 §4.2.2 452);
 * anything else is a local error to retry later.
 */
static void
res_errno(struct mxk_store_result *r, int err)
{
	switch (err) {
	case ENOSPC:
#ifdef EDQUOT
	case EDQUOT:
#endif
	case EIO:
	case EFBIG:
		setres(r, 452, "4.3.1", TEXT_452);
		break;
	default:
		setres(r, 451, "4.3.0", TEXT_451);
		break;
	}
}

/* Printable US-ASCII, as reply text must be (RFC 5321 §4.2). */
static void
printable(char *s)
{
	unsigned char	*p;

	for (p = (unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
}

static int
ctl(int c)
{
	return (unsigned char)c < 0x20 || c == 0x7f;
}

static int
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if (ctl(*s))
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Templates. */

static int
cfgerr(struct mxk_err *e, const char *what)
{
	return fail451(e, MXK_ERR_CONFIG, 0, "maildir template: %s", what);
}

static int
unsafe(struct mxk_err *e, const char *part, const char *why)
{
	if (e == NULL)
		return -1;
	(void)mxk_err_set(e, MXK_ERR_RCPT, MXK_SRC_LOCAL, "5.1.3",
	    "%s %s: not usable as a folder name", part, why);
	e->code = 550;
	return -1;
}

/*
 * Whether one part of an address may become one path element.  RFC 5321
 * §4.1.2 allows '/' in an atom and almost anything in a quoted string, so
 * a local part is data, never a path: anything that could leave the
 * directory the template names ('/', "..", a leading '.'), hide a file
 * (a leading '.'), or confuse tools reading names (control characters)
 * is refused, not mapped -- a mapping would make "a/b" and "a_b" one
 * mailbox.
 */
static int
part_check(const char *s, size_t len, const char *part, struct mxk_err *e)
{
	size_t	i;

	if (len == 0)
		return unsafe(e, part, "empty");
	if (len > PARTMAX)
		return unsafe(e, part, "too long");
	if (s[0] == '.')
		return unsafe(e, part, "starting with '.'");
	for (i = 0; i < len; i++) {
		if (s[i] == '/')
			return unsafe(e, part, "with '/'");
		if (s[i] == '\0' || ctl(s[i]))
			return unsafe(e, part, "with a control character");
		if (s[i] == '.' && i + 1 < len && s[i + 1] == '.')
			return unsafe(e, part, "with \"..\"");
	}
	return 0;
}

/*
 * Lowercase (ASCII only) an address part into out.  RFC 5321 §2.4 leaves
 * the case of local parts to the receiving host; folding it gives one
 * folder for Bob and bob, also on a case-insensitive file system.  A
 * quoted local part is unquoted first (RFC 5321 §4.1.2 quoted-pairSMTP).
 */
static int
part_fold(const char *s, size_t len, int quoted, char *out, size_t *outlen,
    const char *part, struct mxk_err *e)
{
	size_t	i, o = 0;
	char	c;

	if (quoted) {
		if (len < 2 || s[len - 1] != '"')
			return unsafe(e, part, "with unbalanced quotes");
		s++;
		len -= 2;
	}
	for (i = 0; i < len; i++) {
		c = s[i];
		if (quoted && c == '\\') {
			if (++i == len)
				return unsafe(e, part, "ending in '\\'");
			c = s[i];
		} else if (quoted && c == '"')
			return unsafe(e, part, "with a stray quote");
		if (o == PARTMAX)
			return unsafe(e, part, "too long");
		out[o++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[o] = '\0';
	*outlen = o;
	return part_check(out, o, part, e);
}

/*
 * Validate tmpl and, with addr, expand it into out.  *fixed (may be NULL)
 * gets the length of the output made before the first %d or %u.
 */
static int
expand(const char *tmpl, const char *addr, char *out, size_t outlen,
    size_t *fixed, struct mxk_err *e)
{
	char		 local[PARTMAX + 1], domain[PARTMAX + 1];
	const char	*p, *at, *v;
	size_t		 o = 0, llen = 0, dlen = 0, vlen;
	int		 use_d = 0, use_u = 0;

	if (tmpl == NULL || tmpl[0] == '\0')
		return cfgerr(e, "empty");
	if (tmpl[0] != '/')
		return cfgerr(e, "not an absolute path");
	for (p = tmpl; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		p++;
		if (*p == 'd')
			use_d = 1;
		else if (*p == 'u')
			use_u = 1;
		else if (*p != '%')
			return cfgerr(e, "unknown %-sequence (%d %u %% only)");
	}
	if (addr == NULL)
		return 0;

	/* A quoted local part may hold '@': the domain is after the last. */
	if ((at = strrchr(addr, '@')) == NULL)
		at = addr + strlen(addr);
	if (use_u && part_fold(addr, (size_t)(at - addr), addr[0] == '"',
	    local, &llen, "local part", e) == -1)
		return -1;
	if (use_d && part_fold(*at == '@' ? at + 1 : at, strlen(at) -
	    (*at == '@'), 0, domain, &dlen, "domain", e) == -1)
		return -1;

	if (fixed != NULL)
		*fixed = (size_t)-1;
	for (p = tmpl; *p != '\0'; p++) {
		v = p;
		vlen = 1;
		if (*p == '%') {
			p++;
			if (*p == 'd' || *p == 'u') {
				if (fixed != NULL && *fixed == (size_t)-1)
					*fixed = o;
				v = *p == 'd' ? domain : local;
				vlen = *p == 'd' ? dlen : llen;
			} else
				v = p;
		}
		if (outlen == 0 || vlen >= outlen - o)
			return fail451(e, MXK_ERR_CONFIG, 0,
			    "maildir template: expansion too long");
		memcpy(out + o, v, vlen);
		o += vlen;
	}
	out[o] = '\0';
	if (fixed != NULL && *fixed == (size_t)-1)
		*fixed = o;
	return 0;
}

int
mxk_store_expand(const char *tmpl, const char *addr, char *out,
    size_t outlen, struct mxk_err *e)
{
	if (addr != NULL && (out == NULL || outlen == 0))
		return fail451(e, MXK_ERR_USAGE, 0,
		    "mxk_store_expand: no output buffer");
	return expand(tmpl, addr, out, outlen, NULL, e);
}

/* ------------------------------------------------------------------ */
/* Maildir. */

static int
fsync_dir(const char *path)
{
	int	fd, saved;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if (fsync(fd) == -1) {
		saved = errno;
		(void)close(fd);
		errno = saved;
		return -1;
	}
	(void)close(fd);
	return 0;
}

/* 0, or the errno of the failure. */
static int
write_all(int fd, const char *p, size_t len)
{
	return mxk_net_write_full(fd, p, len) == -1 ? errno : 0;
}

/*
 * mkdir(), and when it made the directory, sync its parent: a folder made
 * for this message must survive a crash as much as the message in it.
 */
static int
mkdir_durable(char *path)
{
	size_t	len = strlen(path);
	int	r, saved;

	if (mkdir(path, 0700) == -1)
		return errno == EEXIST ? 0 : -1;
	while (len > 1 && path[len - 1] == '/')
		len--;
	while (len > 0 && path[len - 1] != '/')
		len--;
	if (len == 0)
		return 0;
	if (len == 1)
		return fsync_dir("/");
	path[len - 1] = '\0';
	r = fsync_dir(path);
	saved = errno;
	path[len - 1] = '/';
	errno = saved;
	return r;
}

/*
 * Make the folder with tmp/ new/ cur/ where missing.  Directories on the
 * way are made only past the fixed part of the template: when the
 * template's own directory is missing (a file system not mounted), mail
 * must not go into the directory below the mount point.
 */
static int
folder_make(char *dir, size_t fixed)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char			 sub[PATH_MAX];
	size_t			 i, len = strlen(dir);
	int			 r, saved, made;

	if (mkdir_durable(dir) == -1) {
		if (errno != ENOENT)
			return -1;
		for (i = 1; i < len; i++) {
			if (dir[i] != '/' || i <= fixed)
				continue;
			dir[i] = '\0';
			r = mkdir_durable(dir);
			saved = errno;
			dir[i] = '/';
			if (r == -1) {
				errno = saved;
				return -1;
			}
		}
		if (mkdir_durable(dir) == -1)
			return -1;
	}
	for (i = 0, made = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		(void)snprintf(sub, sizeof(sub), "%s/%s", dir, subs[i]);
		if (mkdir(sub, 0700) == 0)
			made = 1;
		else if (errno != EEXIST)
			return -1;
	}
	return made ? fsync_dir(dir) : 0;
}

/*
 * The host part of a Maildir file name: the Maildir convention writes '/'
 * as \057 and ':' as \072 (':' starts the info part); every octet other
 * than a letter, a digit, '.', '-' or '_' is written that way here.
 */
static void
host_clean(const char *h, char *out, size_t outlen)
{
	const unsigned char	*p;
	size_t			 o = 0;
	int			 c;

	for (p = (const unsigned char *)h; *p != '\0'; p++) {
		c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_') {
			if (o + 1 >= outlen)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 4 >= outlen)
				break;
			(void)snprintf(out + o, 5, "\\%03o", (unsigned int)c);
			o += 4;
		}
	}
	out[o] = '\0';
	if (o == 0)
		(void)snprintf(out, outlen, "localhost");
}

/*
 * Open the tmp file in dest d under a fresh name TIME.PID_COUNTER.HOST.
 * The counter makes names unique within the process, the pid between
 * processes; O_EXCL catches the rest (a pid reused within one second).
 */
static int
tmp_open(struct mxk_store_msg *m, const struct dest *d, const char *host)
{
	int	fd = -1, i;

	for (i = 0; i < NAMETRIES; i++) {
		(void)snprintf(m->name, sizeof(m->name), "%lld.%ld_%lu.%s",
		    (long long)time(NULL), (long)getpid(),
		    atomic_fetch_add(&counter, 1), host);
		(void)snprintf(m->tmppath, sizeof(m->tmppath), "%s/tmp/%s",
		    d->dir, m->name);
		fd = open(m->tmppath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
		if (fd != -1 || errno != EEXIST)
			break;
	}
	return fd;
}

static int
maildir_begin(struct mxk_store_msg *m, const struct mxk_store_params *p,
    const struct mxk_store_env *env, struct mxk_err *e)
{
	char		 path[FOLDERMAX], hn[256], host[HOSTMAX];
	struct mxk_err	 re;
	struct stat	 st;
	struct dest	*d;
	size_t		 i, j, fixed;
	int		 refused = 0, failed = 0;

	if (mxk_store_expand(p->maildir, NULL, NULL, 0, e) == -1)
		return -1;
	if ((m->rdest = calloc(env->nrcpt, sizeof(*m->rdest))) == NULL ||
	    (m->dest = calloc(env->nrcpt, sizeof(*m->dest))) == NULL)
		return fail451(e, MXK_ERR_INTERNAL, ENOMEM, "store");
	for (i = 0; i < env->nrcpt; i++) {
		if (expand(p->maildir, env->rcpt[i], path, sizeof(path),
		    &fixed, &re) == -1) {
			m->rdest[i] = NODEST;
			setres(&m->res[i], re.code, re.status,
			    re.class == MXK_ERR_RCPT ? TEXT_513 : TEXT_451);
			note(m, MXK_LOG_INFO, 0, "%s", re.msg);
			refused = 1;
			continue;
		}
		for (j = 0; j < m->ndest; j++)
			if (strcmp(m->dest[j].dir, path) == 0)
				break;
		if (j == m->ndest) {
			if ((m->dest[j].dir = strdup(path)) == NULL)
				return fail451(e, MXK_ERR_INTERNAL, ENOMEM,
				    "store");
			m->dest[j].fixed = fixed;
			m->dest[j].alias = NODEST;
			m->ndest++;
		}
		m->rdest[i] = j;
	}
	/* All or nothing: one refusal and nobody gets it. */
	if (!m->lmtp && refused)
		return 0;

	for (j = 0; j < m->ndest; j++) {
		d = &m->dest[j];
		if (folder_make(d->dir, d->fixed) == -1 ||
		    stat(d->dir, &st) == -1) {
			d->err = errno;
			note(m, MXK_LOG_WARN, errno, "%s", d->dir);
			failed = 1;
			continue;
		}
		d->dev = st.st_dev;
		d->ino = st.st_ino;
		/* Two names, one folder (a symbolic link): one file. */
		for (i = 0; i < j; i++)
			if (m->dest[i].err == 0 &&
			    m->dest[i].alias == NODEST &&
			    m->dest[i].dev == d->dev &&
			    m->dest[i].ino == d->ino)
				break;
		if (i < j)
			d->alias = i;
	}
	for (i = 0; i < env->nrcpt; i++)
		if (m->rdest[i] != NODEST &&
		    m->dest[m->rdest[i]].alias != NODEST)
			m->rdest[i] = m->dest[m->rdest[i]].alias;
	if (!m->lmtp && failed)
		return 0;

	if (p->hostname != NULL)
		host_clean(p->hostname, host, sizeof(host));
	else {
		if (gethostname(hn, sizeof(hn)) == -1)
			hn[0] = '\0';
		hn[sizeof(hn) - 1] = '\0';
		host_clean(hn, host, sizeof(host));
	}
	/*
	 * The tmp file is opened when the first octets must go to disk:
	 * at the end of a message that fits the buffer, so in the thread
	 * that ends it, not in a server's event loop (making an inode can
	 * wait on the disk).  The folders were made above, so a folder
	 * that cannot be is still refused at once.
	 */
	for (j = 0; j < m->ndest; j++)
		if (m->dest[j].err == 0 && m->dest[j].alias == NODEST)
			break;
	if (j == m->ndest)
		return 0;
	(void)memcpy(m->host, host, sizeof(m->host));
	m->lazy = 1;
	if ((m->buf = malloc(MXK_STORE_BUFSIZE)) == NULL)
		return fail451(e, MXK_ERR_INTERNAL, ENOMEM, "store");
	return 0;
}

/*
 * Open the tmp file, in the first folder that takes one (any one, for
 * LMTP); on failure that folder has the error, and without LMTP no other
 * is tried (all or nothing).
 */
static void
tmp_ensure(struct mxk_store_msg *m)
{
	struct dest	*d;
	size_t		 j;

	if (!m->lazy)
		return;
	m->lazy = 0;
	for (j = 0; j < m->ndest; j++) {
		d = &m->dest[j];
		if (d->err != 0 || d->alias != NODEST)
			continue;
		if ((m->fd = tmp_open(m, d, m->host)) != -1) {
			m->holder = j;
			return;
		}
		d->err = errno;
		note(m, MXK_LOG_WARN, errno, "%s", m->tmppath);
		m->tmppath[0] = '\0';
		if (!m->lmtp)
			return;
	}
}

static void
maildir_flush(struct mxk_store_msg *m)
{
	if (m->werr == 0 && m->blen > 0)
		m->werr = write_all(m->fd, m->buf, m->blen);
	m->blen = 0;
}

static void
maildir_write(struct mxk_store_msg *m, const char *p, size_t len)
{
	if ((m->fd == -1 && !m->lazy) || m->werr != 0)
		return;
	if (len <= MXK_STORE_BUFSIZE - m->blen) {
		memcpy(m->buf + m->blen, p, len);
		m->blen += len;
		return;
	}
	tmp_ensure(m);
	if (m->fd == -1)
		return;
	maildir_flush(m);
	if (m->werr != 0)
		return;
	if (len >= MXK_STORE_BUFSIZE)
		m->werr = write_all(m->fd, p, len);
	else {
		memcpy(m->buf, p, len);
		m->blen = len;
	}
}

/*
 * Into a folder on another file system: a copy in its own tmp/, synced,
 * then linked into new/, so that a reader never sees a partial file.
 */
static int
copy_into(struct mxk_store_msg *m, const struct dest *d, const char *dst)
{
	char			 tmp[PATH_MAX];
	unsigned long long	 off = 0;
	ssize_t			 n;
	int			 fd, err = 0;

	(void)snprintf(tmp, sizeof(tmp), "%s/tmp/%s", d->dir, m->name);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		return -1;
	for (;;) {
		n = pread(m->fd, m->buf, MXK_STORE_BUFSIZE, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err = errno;
			break;
		}
		if (n == 0)
			break;
		if ((err = write_all(fd, m->buf, (size_t)n)) != 0)
			break;
		off += (unsigned long long)n;
	}
	if (err == 0 && off != m->bytes)
		err = EIO;
	if (err == 0 && fsync(fd) == -1)
		err = errno;
	if (close(fd) == -1 && err == 0)
		err = errno;
	if (err == 0 && link(tmp, dst) == -1)
		err = errno;
	(void)unlink(tmp);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

/* Link the synced tmp file into d's new/ and sync the directory. */
static void
link_one(struct mxk_store_msg *m, struct dest *d)
{
	char	dst[PATH_MAX], dir[PATH_MAX];

	(void)snprintf(dst, sizeof(dst), "%s/new/%s", d->dir, m->name);
	(void)snprintf(dir, sizeof(dir), "%s/new", d->dir);
	if (link(m->tmppath, dst) == -1) {
		if ((errno != EXDEV && errno != EMLINK) ||
		    copy_into(m, d, dst) == -1) {
			d->err = errno;
			note(m, MXK_LOG_WARN, errno, "%s", dst);
			return;
		}
	}
	/*
	 * The entry in new/ is durable only once the directory is synced;
	 * without that the 250 could be a lie after a crash (RFC 5321
	 * §6.1).  A file that cannot be made durable is taken back, since
	 * the client will be told to send it again.
	 */
	if (fsync_dir(dir) == -1) {
		d->err = errno;
		note(m, MXK_LOG_WARN, errno, "fsync %s", dir);
		(void)unlink(dst);
		return;
	}
	d->linked = 1;
}

static void
unlink_one(struct mxk_store_msg *m, struct dest *d)
{
	char	dst[PATH_MAX], dir[PATH_MAX];

	(void)snprintf(dst, sizeof(dst), "%s/new/%s", d->dir, m->name);
	(void)snprintf(dir, sizeof(dir), "%s/new", d->dir);
	if (unlink(dst) == -1 || fsync_dir(dir) == -1)
		note(m, MXK_LOG_WARN, errno, "taking back %s", dst);
	d->linked = 0;
}

static void
maildir_end(struct mxk_store_msg *m)
{
	struct dest	*d;
	size_t		 i, j;
	int		 failed = 0;

	tmp_ensure(m);
	if (m->fd != -1) {
		maildir_flush(m);
		if (m->werr == 0 && fsync(m->fd) == -1)
			m->werr = errno;
		if (m->werr != 0) {
			note(m, MXK_LOG_WARN, m->werr, "%s", m->tmppath);
			for (j = 0; j < m->ndest; j++)
				if (m->dest[j].err == 0)
					m->dest[j].err = m->werr;
		} else {
			for (j = 0; j < m->ndest; j++) {
				d = &m->dest[j];
				if (d->err != 0 || d->alias != NODEST)
					continue;
				link_one(m, d);
				if (d->err != 0)
					failed = 1;
			}
			if (!m->lmtp && failed)
				for (j = 0; j < m->ndest; j++)
					if (m->dest[j].linked)
						unlink_one(m, &m->dest[j]);
		}
		(void)close(m->fd);
		m->fd = -1;
		/*
		 * The links in new/ are synced: a tmp file that comes back
		 * after a crash is only clutter (readers remove tmp/ files
		 * older than 36 hours), so tmp/ is not synced after the
		 * unlink (one journal commit less per message), and a
		 * failure here is logged and the delivery stands.
		 */
		if (unlink(m->tmppath) == -1)
			mxk_log(MXK_LOG_WARN, "store: removing %s: %s",
			    m->tmppath, strerror(errno));
	}
	for (i = 0; i < m->nrcpt; i++) {
		if (m->rdest[i] == NODEST)
			continue;
		d = &m->dest[m->rdest[i]];
		if (d->err != 0)
			res_errno(&m->res[i], d->err);
		else if (d->linked)
			res_ok(m, &m->res[i]);
		/* Else not tried, or taken back: all or nothing decides. */
	}
}

static void
maildir_abort(struct mxk_store_msg *m)
{
	if (m->fd != -1) {
		(void)close(m->fd);
		m->fd = -1;
		(void)unlink(m->tmppath);
	}
}

/* ------------------------------------------------------------------ */
/* Exec. */

/* "NAME=value", control characters shown as '?'; NULL value: none. */
static int
envvar(char **envp, size_t *n, const char *name, const char *val)
{
	size_t	len, i, nl;
	char	*s;

	if (val == NULL)
		return 0;
	nl = strlen(name);
	len = strlen(val);
	if ((s = malloc(nl + len + 2)) == NULL)
		return -1;
	memcpy(s, name, nl);
	s[nl] = '=';
	for (i = 0; i < len; i++)
		s[nl + 1 + i] = ctl(val[i]) ? '?' : val[i];
	s[nl + 1 + len] = '\0';
	envp[(*n)++] = s;
	return 0;
}

static char *
recipients(const struct mxk_store_env *env)
{
	size_t	i, len = 0, l, o = 0;
	char	*s;

	for (i = 0; i < env->nrcpt; i++) {
		l = strlen(env->rcpt[i]);
		if (l >= SIZE_MAX / 2 - len)
			return NULL;
		len += l + 1;
	}
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < env->nrcpt; i++) {
		if (i > 0)
			s[o++] = ' ';
		l = strlen(env->rcpt[i]);
		memcpy(s + o, env->rcpt[i], l);
		o += l;
	}
	s[o] = '\0';
	return s;
}

static void
closepair(int p[2])
{
	if (p[0] != -1)
		(void)close(p[0]);
	if (p[1] != -1)
		(void)close(p[1]);
	p[0] = p[1] = -1;
}

int
mxk_store_check(const struct mxk_store_params *p, struct mxk_err *e)
{
	char	prog[PATH_MAX];

	if (p->kind != MXK_STORE_EXEC)
		return 0;
	if (p->argv == NULL || p->argv[0] == NULL)
		return fail451(e, MXK_ERR_USAGE, 0, "store: no program");
	if (mxk_proc_find(p->argv[0], p->path != NULL ? p->path :
	    MXK_STORE_PATH, prog, sizeof(prog)) == -1 ||
	    !mxk_proc_runnable(prog))
		return fail451(e, MXK_ERR_CONFIG, 0, "%s: not found, or not "
		    "executable", p->argv[0]);
	return 0;
}

static int
exec_begin(struct mxk_store_msg *m, const struct mxk_store_params *p,
    const struct mxk_store_env *env, struct mxk_err *e)
{
	char		*envp[12], *rc;
	const char	*path = p->path != NULL ? p->path : MXK_STORE_PATH;
	int		 inp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	int		 ep[2] = { -1, -1 }, nul = -1, fds[3], maxfd, cerr = 0;
	int		 r = 0;
	size_t		 i, n = 0;
	ssize_t		 got;
	pid_t		 pid;

	m->cancel = p->cancel;
	m->deadline = mxk_deadline_in(p->timeout_ms > 0 ? p->timeout_ms :
	    MXK_STORE_TIMEOUT_MS);
	if (p->argv == NULL || p->argv[0] == NULL)
		return fail451(e, MXK_ERR_CONFIG, 0, "store: no program");
	/*
	 * The envelope goes to the program in its environment, never
	 * through a shell; addresses were checked by the server (RFC 5321
	 * §4.1.2 has no control characters in a path), so one here is a
	 * caller bug and refused rather than passed on.
	 */
	if (has_ctl(env->sender))
		return fail451(e, MXK_ERR_USAGE, 0,
		    "store: control character in the sender");
	for (i = 0; i < env->nrcpt; i++)
		if (has_ctl(env->rcpt[i]))
			return fail451(e, MXK_ERR_USAGE, 0,
			    "store: control character in a recipient");
	if (mxk_proc_find(p->argv[0], path, m->prog, sizeof(m->prog)) == -1)
		return fail451(e, MXK_ERR_CONFIG, errno, "store: %s",
		    p->argv[0]);

	if ((rc = recipients(env)) == NULL)
		return fail451(e, MXK_ERR_INTERNAL, ENOMEM, "store");
	r |= envvar(envp, &n, "SENDER", env->sender);
	r |= envvar(envp, &n, "RECIPIENTS", rc);
	r |= envvar(envp, &n, "CLIENT_IP", env->client_ip);
	r |= envvar(envp, &n, "HELO", env->helo);
	r |= envvar(envp, &n, "TLS_CIPHER", env->tls_cipher);
	r |= envvar(envp, &n, "AUTH_USER", env->auth_user);
	r |= envvar(envp, &n, "QUEUE_ID", env->queue_id);
	r |= envvar(envp, &n, "BODY", env->body);
	r |= envvar(envp, &n, "PATH", path);
	envp[n] = NULL;
	free(rc);
	if (r != 0) {
		(void)fail451(e, MXK_ERR_INTERNAL, ENOMEM, "store");
		goto out;
	}

	maxfd = mxk_proc_maxfd(MAXFD_LOOP);
	if (pipe2(inp, O_CLOEXEC) == -1 || pipe2(errp, O_CLOEXEC) == -1 ||
	    pipe2(ep, O_CLOEXEC) == -1 ||
	    (nul = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1 ||
	    mxk_proc_above2(&inp[0]) == -1 ||
	    mxk_proc_above2(&errp[1]) == -1 || mxk_proc_above2(&nul) == -1 ||
	    mxk_proc_above2(&ep[1]) == -1 ||
	    fcntl(inp[1], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(errp[0], F_SETFL, O_NONBLOCK) == -1) {
		r = -1;
		(void)fail451(e, MXK_ERR_TEMP, errno, "store: pipe");
		goto out;
	}

	/*
	 * The program's stdout goes nowhere, its stderr to us (the reply
	 * text); an execve() failure comes back through ep, which an
	 * execve() that works closes.
	 */
	fds[0] = inp[0];
	fds[1] = nul;
	fds[2] = errp[1];
	if ((pid = mxk_proc_fork()) == 0)
		mxk_proc_exec(m->prog, p->argv, envp, fds, 3, maxfd, ep[1]);
	cerr = errno;
	if (pid == -1) {
		r = -1;
		(void)fail451(e, MXK_ERR_TEMP, cerr, "store: fork");
		goto out;
	}
	(void)close(inp[0]);
	(void)close(errp[1]);
	(void)close(ep[1]);
	inp[0] = errp[1] = ep[1] = -1;
	/* EOF: the execve() succeeded and closed ep on its way. */
	do
		got = read(ep[0], &cerr, sizeof(cerr));
	while (got == -1 && errno == EINTR);
	if (got > 0) {
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		r = -1;
		(void)fail451(e, MXK_ERR_CONFIG, got == sizeof(cerr) ? cerr :
		    0, "store: cannot execute %s", m->prog);
		goto out;
	}
	m->pid = pid;
	m->in = inp[1];
	m->errfd = errp[0];
	inp[1] = errp[0] = -1;
out:
	for (i = 0; i < n; i++)
		free(envp[i]);
	closepair(inp);
	closepair(errp);
	closepair(ep);
	if (nul != -1)
		(void)close(nul);
	return r;
}

/* Read what the program wrote on stderr; keep its first line. */
static void
err_drain(struct mxk_store_msg *m)
{
	char	b[4096];
	ssize_t	n, i;

	while (m->errfd != -1) {
		n = read(m->errfd, b, sizeof(b));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			(void)close(m->errfd);
			m->errfd = -1;
			return;
		}
		for (i = 0; i < n && !m->linedone; i++) {
			if (b[i] == '\n' || m->linelen == MXK_STORE_ERRLINE)
				m->linedone = 1;
			else
				m->line[m->linelen++] = b[i];
		}
	}
}

/* Kill the program's process group (it is not reaped yet) and reap it. */
static void
exec_kill(struct mxk_store_msg *m)
{
	int	st = 0;

	if (m->reaped)
		return;
	(void)kill(-m->pid, SIGKILL);
	(void)kill(m->pid, SIGKILL);
	while (waitpid(m->pid, &st, 0) == -1 && errno == EINTR)
		;
	m->wstatus = st;
	m->reaped = 1;
}

/* The server stops (params.cancel): a program still running goes. */
static int
cancelled(const struct mxk_store_msg *m)
{
	return m->cancel != NULL && atomic_load(m->cancel) != 0;
}

static void
exec_timeout(struct mxk_store_msg *m)
{
	note(m, MXK_LOG_WARN, 0, "%s: killed %s", m->prog, cancelled(m) ?
	    "as the server stops" : "after the deadline");
	exec_kill(m);
	m->timedout = 1;
	if (m->in != -1) {
		(void)close(m->in);
		m->in = -1;
	}
}

static void
exec_write(struct mxk_store_msg *m, const char *p, size_t len)
{
	struct pollfd	pfd[2];
	ssize_t		n;
	int		left, st;

	while (len > 0 && m->in != -1) {
		if ((n = write(m->in, p, len)) > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
			/* EPIPE: the program stopped reading, which is its
			 * right; its exit status tells the rest. */
			if (errno == EPIPE)
				m->epipe = 1;
			else
				note(m, MXK_LOG_WARN, errno, "%s: stdin",
				    m->prog);
			(void)close(m->in);
			m->in = -1;
			return;
		}
		if ((left = mxk_ms_left(m->deadline)) == 0 || cancelled(m)) {
			exec_timeout(m);
			return;
		}
		pfd[0].fd = m->in;
		pfd[0].events = POLLOUT;
		pfd[1].fd = m->errfd;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		/* Drain stderr too: a program blocked writing there would
		 * never read its stdin. */
		if (poll(pfd, 2, left < WAITSTEP_MS ? left : WAITSTEP_MS) > 0 &&
		    pfd[1].revents != 0)
			err_drain(m);
		/*
		 * A program that has exited while a child of its own keeps
		 * the pipe open never gives EPIPE: its exit status decides
		 * now, and the rest of the message goes nowhere, as after
		 * EPIPE.
		 */
		if (pfd[0].revents == 0 && waitpid(m->pid, &st, WNOHANG) ==
		    m->pid) {
			m->wstatus = st;
			m->reaped = 1;
			m->epipe = 1;
			(void)close(m->in);
			m->in = -1;
			return;
		}
	}
}

static void
exec_wait(struct mxk_store_msg *m)
{
	struct pollfd	pfd;
	pid_t		r;
	int		st, left, step = 1;

	while (!m->reaped) {
		r = waitpid(m->pid, &st, WNOHANG);
		if (r == m->pid) {
			m->wstatus = st;
			m->reaped = 1;
			break;
		}
		if (r == -1 && errno != EINTR) {
			/* Reaped elsewhere (SIGCHLD ignored): status lost. */
			note(m, MXK_LOG_WARN, errno, "%s: waitpid", m->prog);
			m->reaped = 1;
			m->lost = 1;
			break;
		}
		if ((left = mxk_ms_left(m->deadline)) == 0 || cancelled(m)) {
			exec_timeout(m);
			break;
		}
		pfd.fd = m->errfd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (m->errfd != -1) {
			if (poll(&pfd, 1, left < WAITSTEP_MS ? left :
			    WAITSTEP_MS) > 0)
				err_drain(m);
		} else {
			(void)poll(NULL, 0, left < step ? left : step);
			if (step < WAITSTEP_MS)
				step *= 2;
		}
	}
	err_drain(m);
}

/*
 * The program's first stderr line as reply text.  A leading enhanced
 * status code is believed only when its class digit matches the reply
 * (RFC 3463 §2; Postfix smtp_chat_resp() and pipe(8) do the same).
 */
static void
errline_apply(struct mxk_store_msg *m, struct mxk_store_result *r)
{
	char	 tok[16], *s = m->line, *sp;
	size_t	 len = m->linelen;

	m->line[len] = '\0';
	while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == ' ' ||
	    s[len - 1] == '\t'))
		s[--len] = '\0';
	printable(s);
	while (*s == ' ')
		s++;
	if (*s == '\0')
		return;
	if ((sp = strchr(s, ' ')) != NULL && (size_t)(sp - s) < sizeof(tok)) {
		memcpy(tok, s, (size_t)(sp - s));
		tok[sp - s] = '\0';
		if (mxk_err_status_valid(tok) &&
		    tok[0] - '0' == r->code / 100) {
			(void)snprintf(r->status, sizeof(r->status), "%s", tok);
			for (s = sp; *s == ' '; s++)
				;
			if (*s == '\0')
				return;
		}
	}
	(void)snprintf(r->text, sizeof(r->text), "%s", s);
}

static void
exec_end(struct mxk_store_msg *m)
{
	struct mxk_store_result	 r;
	size_t			 i;
	int			 st;

	if (m->in != -1) {
		(void)close(m->in);
		m->in = -1;
	}
	exec_wait(m);
	st = m->wstatus;
	if (m->timedout)
		setres(&r, 451, "4.3.0", "Delivery program timed out");
	else if (m->lost)
		setres(&r, 451, "4.3.0", TEXT_451);
	else if (WIFEXITED(st)) {
		/* The sysexits(3) convention of sendmail's local mailers. */
		switch (WEXITSTATUS(st)) {
		case 0:
			res_ok(m, &r);
			break;
		case EX_TEMPFAIL:
			setres(&r, 451, "4.3.0", "Temporary local delivery "
			    "failure");
			break;
		case EX_NOUSER:
			setres(&r, 550, "5.1.1", "No such user here");
			break;
		default:
			setres(&r, 554, "5.3.0", "Local delivery failed");
			break;
		}
		if (WEXITSTATUS(st) != 0)
			note(m, MXK_LOG_NOTICE, 0, "%s exited %d", m->prog,
			    WEXITSTATUS(st));
	} else {
		setres(&r, 451, "4.3.0", "Delivery program killed");
		note(m, MXK_LOG_WARN, 0, "%s killed by signal %d", m->prog,
		    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	}
	if (!m->timedout && !m->lost)
		errline_apply(m, &r);
	if (m->epipe)
		mxk_log(MXK_LOG_INFO, "store: %s did not read all the message",
		    m->prog);
	for (i = 0; i < m->nrcpt; i++)
		m->res[i] = r;
}

static void
exec_abort(struct mxk_store_msg *m)
{
	if (m->in != -1) {
		(void)close(m->in);
		m->in = -1;
	}
	if (m->pid != -1)
		exec_kill(m);
}

/* ------------------------------------------------------------------ */

static void
msg_free(struct mxk_store_msg *m)
{
	size_t	j;

	if (m->errfd != -1)
		(void)close(m->errfd);
	for (j = 0; j < m->ndest; j++)
		free(m->dest[j].dir);
	free(m->dest);
	free(m->rdest);
	free(m->buf);
	free(m->res);
	free(m);
}

int
mxk_store_begin(const struct mxk_store_params *p,
    const struct mxk_store_env *env, struct mxk_store_msg **out,
    struct mxk_err *e)
{
	struct mxk_store_msg	*m;
	const unsigned char	*q;
	size_t			 i, o;
	int			 r;

	if (out != NULL)
		*out = NULL;
	if (p == NULL || env == NULL || out == NULL || env->sender == NULL ||
	    env->rcpt == NULL || env->nrcpt == 0 || p->timeout_ms < 0)
		return fail451(e, MXK_ERR_USAGE, 0, "mxk_store_begin: bad "
		    "arguments");
	for (i = 0; i < env->nrcpt; i++)
		if (env->rcpt[i] == NULL)
			return fail451(e, MXK_ERR_USAGE, 0, "mxk_store_begin: "
			    "NULL recipient");
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->res = calloc(env->nrcpt, sizeof(*m->res))) == NULL) {
		free(m);
		return fail451(e, MXK_ERR_INTERNAL, ENOMEM, "store");
	}
	m->kind = p->kind;
	m->lmtp = p->lmtp;
	m->nrcpt = env->nrcpt;
	m->holder = NODEST;
	m->fd = m->in = m->errfd = -1;
	m->pid = -1;
	if (env->queue_id != NULL) {
		o = 0;
		for (q = (const unsigned char *)env->queue_id; *q != '\0' &&
		    o < sizeof(m->qid) - 1; q++)
			m->qid[o++] = *q > 0x20 && *q < 0x7f ? (char)*q : '?';
		m->qid[o] = '\0';
	}
	switch (p->kind) {
	case MXK_STORE_MAILDIR:
		r = maildir_begin(m, p, env, e);
		break;
	case MXK_STORE_EXEC:
		r = exec_begin(m, p, env, e);
		break;
	case MXK_STORE_DISCARD:
		r = 0;
		break;
	default:
		r = fail451(e, MXK_ERR_USAGE, 0, "store: unknown kind %d",
		    (int)p->kind);
		break;
	}
	if (r == -1) {
		mxk_store_abort(m);
		return -1;
	}
	*out = m;
	return 0;
}

int
mxk_store_write(struct mxk_store_msg *m, const void *p, size_t len,
    struct mxk_err *e)
{
	if (m == NULL || (p == NULL && len > 0))
		return fail451(e, MXK_ERR_USAGE, 0, "mxk_store_write: bad "
		    "arguments");
	if (len == 0)
		return 0;
	m->bytes += len;
	switch (m->kind) {
	case MXK_STORE_MAILDIR:
		maildir_write(m, p, len);
		break;
	case MXK_STORE_EXEC:
		exec_write(m, p, len);
		break;
	default:
		break;
	}
	return 0;
}

/*
 * Without per-recipient replies one result stands for all: a temporary
 * failure first (the client retries, and may succeed for everyone), else
 * the first permanent one.
 */
static void
collapse(struct mxk_store_msg *m)
{
	size_t	i, pick = NODEST;

	for (i = 0; i < m->nrcpt && pick == NODEST; i++)
		if (m->res[i].code / 100 == 4)
			pick = i;
	for (i = 0; i < m->nrcpt && pick == NODEST; i++)
		if (m->res[i].code != 0 && m->res[i].code / 100 != 2)
			pick = i;
	if (pick == NODEST)
		return;
	for (i = 0; i < m->nrcpt; i++)
		if (i != pick)
			m->res[i] = m->res[pick];
}

int
mxk_store_end(struct mxk_store_msg *m, struct mxk_store_result *res,
    struct mxk_err *e)
{
	const struct mxk_store_result	*r = NULL;
	enum mxk_err_class		 class;
	size_t				 i;

	if (m == NULL)
		return fail451(e, MXK_ERR_USAGE, 0,
		    "mxk_store_end: no message");
	switch (m->kind) {
	case MXK_STORE_MAILDIR:
		maildir_end(m);
		break;
	case MXK_STORE_EXEC:
		exec_end(m);
		break;
	default:
		for (i = 0; i < m->nrcpt; i++)
			res_ok(m, &m->res[i]);
		break;
	}
	if (!m->lmtp)
		collapse(m);
	for (i = 0; i < m->nrcpt; i++) {
		if (m->res[i].code == 0)
			setres(&m->res[i], 451, "4.3.0", TEXT_451);
		if (r == NULL && m->res[i].code != 250)
			r = &m->res[i];
	}
	if (res != NULL)
		memcpy(res, m->res, m->nrcpt * sizeof(*res));
	if (r == NULL) {
		mxk_err_clear(e);
		msg_free(m);
		return 0;
	}
	if (r->code / 100 == 4)
		class = MXK_ERR_TEMP;
	else if (strncmp(r->status, "5.1.", 4) == 0)
		class = MXK_ERR_RCPT;
	else
		class = MXK_ERR_PERM;
	if (m->why[0] != '\0')
		(void)mxk_err_set(e, class, MXK_SRC_LOCAL, r->status,
		    "%d %s %s (%s)", r->code, r->status, r->text, m->why);
	else
		(void)mxk_err_set(e, class, MXK_SRC_LOCAL, r->status,
		    "%d %s %s", r->code, r->status, r->text);
	if (e != NULL) {
		e->code = r->code;
		e->sys_errno = m->why_errno;
	}
	msg_free(m);
	return -1;
}

void
mxk_store_abort(struct mxk_store_msg *m)
{
	if (m == NULL)
		return;
	if (m->kind == MXK_STORE_MAILDIR)
		maildir_abort(m);
	else if (m->kind == MXK_STORE_EXEC)
		exec_abort(m);
	msg_free(m);
}

unsigned long long
mxk_store_bytes(const struct mxk_store_msg *m)
{
	return m != NULL ? m->bytes : 0;
}

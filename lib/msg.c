/* ISC license. */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "msg.h"

#define IOBUF		(64 * 1024)
/* Messages start in memory (memfd: no file system work, which is most of
 * the cost of a small message); past this they move to a temporary file,
 * so that a large message never sits in RAM. */
#define MEMMAX		(1024 * 1024)

/* What the message holds besides 7-bit text (mxk_msg.eightbit). */
#define MSG_8BIT	1	/* an octet over 127 (RFC 6152) */
#define MSG_NUL		2	/* a NUL (RFC 3030 BINARYMIME) */

struct mxk_msg {
	int			 fd;		/* the unlinked spool file */
	int			 inmem;		/* fd is a memfd (small so far) */
	int			 crlf;		/* direct, and already in SMTP form:
						 * every line ends with CR LF */
	int			 direct;	/* fd is the caller's regular file,
						 * normalised as it is read */
	off_t			 base;		/* where the message starts */
	int			 prev_cr, any, last_eol, eof;
	char			*raw;		/* direct: read buffer */
	unsigned long long	 given;		/* direct: octets handed out
						 * since the last rewind */
	size_t			 rpos, rlen;	/* direct: raw[rpos..rlen) unused */
	int			 owe_lf;	/* direct: the LF of a CRLF that
						 * did not fit */
	int			 bol;		/* direct: a line starts next */
	int			 dots;		/* the last read may have a line
						 * that starts with '.' */
	unsigned long long	 size;
	size_t			 lines;
	int			 eightbit;	/* MSG_8BIT, MSG_NUL */
	char			**rcpt;
	size_t			 nrcpt, rcptcap;
	unsigned		 seen;		/* header fields, by bit */
};

/* Header fields whose presence callers ask about. */
static const char *const known[] = {
	"from", "to", "cc", "bcc", "date", "message-id", "subject", "sender"
};
#define NKNOWN	(sizeof(known) / sizeof(known[0]))

/* The reading state. */
struct rd {
	struct mxk_msg			*m;
	const struct mxk_msg_params	*p;
	size_t				 max_line, max_header, max_rcpts;
	char				 out[IOBUF];
	size_t				 outlen;
	struct mxk_buf			 line;		/* current line, no EOL */
	struct mxk_buf			 field;		/* header field, CRLFs */
	int				 in_header;
	int				 drop_field;
	size_t				 blen;		/* body line length */
	int				 count_only;	/* direct: scan only */
	const char			*tmpdir;
	int				 done;		/* "." seen (dot_ends) */
	size_t				 odd_end;	/* -t: the header ended at
							 * this line, no field */
	struct mxk_err			*e;
};

static int	spool_file(const char *, int *, struct mxk_err *);

/* Move a message that outgrew memory into a temporary file. */
static int
spill(struct rd *r)
{
	char	buf[IOBUF];
	ssize_t	n, w;
	int	fd;

	if (spool_file(r->tmpdir, &fd, r->e) == -1)
		return -1;
	if (lseek(r->m->fd, 0, SEEK_SET) == -1)
		goto fail;
	while ((n = read(r->m->fd, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		for (w = 0; w < n; ) {
			ssize_t k = write(fd, buf + w, (size_t)(n - w));

			if (k == -1) {
				if (errno == EINTR)
					continue;
				goto fail;
			}
			w += k;
		}
	}
	(void)close(r->m->fd);
	r->m->fd = fd;
	r->m->inmem = 0;
	return 0;
fail:
	(void)mxk_err_sys(r->e, MXK_ERR_IO, "spool file");
	(void)close(fd);
	return -1;
}

static int
flush_out(struct rd *r)
{
	size_t	off = 0;
	ssize_t	n;

	if (r->count_only) {
		r->outlen = 0;
		return 0;
	}

	if (r->m->inmem && r->m->size > MEMMAX && spill(r) == -1)
		return -1;

	while (off < r->outlen) {
		n = write(r->m->fd, r->out + off, r->outlen - off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return mxk_err_sys(r->e, MXK_ERR_IO, "spool file");
		}
		off += (size_t)n;
	}
	r->outlen = 0;
	return 0;
}

static int
emit(struct rd *r, const char *p, size_t len)
{
	size_t	n;

	if (r->p->max_size > 0 && r->m->size + len > r->p->max_size)
		return mxk_err_set(r->e, MXK_ERR_DATA, MXK_SRC_LOCAL, "5.3.4",
		    "message larger than %llu octets", r->p->max_size);
	r->m->size += len;
	if (r->count_only)
		return 0;	/* direct: the octets are read again to send */
	while (len > 0) {
		if (r->outlen == sizeof(r->out) && flush_out(r) == -1)
			return -1;
		n = sizeof(r->out) - r->outlen;
		if (n > len)
			n = len;
		memcpy(r->out + r->outlen, p, n);
		r->outlen += n;
		p += n;
		len -= n;
	}
	return 0;
}

static int
add_rcpt(void *arg, const char *a, size_t len)
{
	struct rd	*r = arg;
	struct mxk_msg	*m = r->m;
	char		*s, **nv;

	if (len == 0)
		return 0;
	if (m->nrcpt >= r->max_rcpts)
		return mxk_err_set(r->e, MXK_ERR_DATA, MXK_SRC_LOCAL, "5.5.3",
		    "more than %zu recipients in the header", r->max_rcpts);
	if (m->nrcpt == m->rcptcap) {
		size_t cap = m->rcptcap > 0 ? 2 * m->rcptcap : 16;

		if ((nv = realloc(m->rcpt, cap * sizeof(*nv))) == NULL)
			return mxk_err_set(r->e, MXK_ERR_INTERNAL,
			    MXK_SRC_LOCAL, NULL, "out of memory");
		m->rcpt = nv;
		m->rcptcap = cap;
	}
	if ((s = strndup(a, len)) == NULL)
		return mxk_err_set(r->e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	m->rcpt[m->nrcpt++] = s;
	return 0;
}

/*
 * The name of the field in f: its length, or 0 when f is no field; the
 * offset of its ':' in *colon.  RFC 5322 §3.6.8: printable US-ASCII but
 * the colon; §4.5: white space may come before the colon ("To :"), and
 * such a field is read like any other, or a Bcc: after it would end up
 * in the body for every recipient to see.
 */
static size_t
field_name(const char *f, size_t len, size_t *colon)
{
	size_t	i, n;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)f[i];

		if (c == ':' || c == ' ' || c == '\t')
			break;
		if (c < 33 || c >= 127)
			return 0;
	}
	for (n = i; i < len && (f[i] == ' ' || f[i] == '\t'); i++)
		;
	if (n == 0 || i == len || f[i] != ':')
		return 0;
	if (colon != NULL)
		*colon = i;
	return n;
}

static int
is_name(const char *f, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(f, name, n) == 0;
}

/* A header field is complete: look at it, then keep or drop it. */
static int
end_field(struct rd *r)
{
	struct mxk_buf	*f = &r->field;
	size_t		 n, k, colon = 0;
	int		 dst = 0;

	if (f->len == 0)
		return 0;
	n = field_name(f->p, f->len, &colon);
	for (k = 0; k < NKNOWN; k++)
		if (is_name(f->p, n, known[k]))
			r->m->seen |= 1u << k;
	if (r->p->extract_rcpts && (is_name(f->p, n, "to") ||
	    is_name(f->p, n, "cc") || (dst = is_name(f->p, n, "bcc")))) {
		if (mxk_msg_addr_list(f->p + colon + 1, f->len - colon - 1,
		    add_rcpt, r) == -1)
			return -1;
	}
	/* sendmail -t: Bcc recipients get the mail, nobody sees them. */
	if (!(dst && r->p->extract_rcpts) && emit(r, f->p, f->len) == -1)
		return -1;
	mxk_buf_reset(f);
	return 0;
}

static int
end_header(struct rd *r)
{
	char	from[1024];
	int	n;

	if (end_field(r) == -1)
		return -1;
	r->in_header = 0;
	if (r->p->add_from != NULL && !(r->m->seen & 1u)) {
		n = snprintf(from, sizeof(from), "From: %s\r\n",
		    r->p->add_from);
		if (n < 0 || (size_t)n >= sizeof(from) ||
		    strpbrk(r->p->add_from, "\r\n") != NULL)
			return mxk_err_set(r->e, MXK_ERR_DATA, MXK_SRC_LOCAL,
			    "5.6.0", "bad From: value");
		if (emit(r, from, (size_t)n) == -1)
			return -1;
		r->m->seen |= 1u;
	}
	return 0;
}

/* One complete line (without its end) was read. */
static int
end_line(struct rd *r)
{
	struct mxk_buf	*l = &r->line;

	r->m->lines++;
	if (r->p->dot_ends && l->len == 1 && l->p[0] == '.') {
		r->done = 1;
		return 0;
	}
	if (r->in_header) {
		if (l->len == 0) {
			if (end_header(r) == -1)
				return -1;
			/* The empty line itself goes out below. */
		} else if (l->p[0] == ' ' || l->p[0] == '\t') {
			if (r->field.len == 0)
				goto body;	/* continuation of nothing */
			goto append;
		} else if (field_name(l->p, l->len, NULL) > 0) {
			if (end_field(r) == -1)
				return -1;
			goto append;
		} else {
			/* Not a header field: the body starts here.  With
			 * -t the body is then read line by line, for a Bcc
			 * below the line (see below). */
			if (end_header(r) == -1)
				return -1;
			if (r->p->extract_rcpts)
				r->odd_end = r->m->lines;
		}
	} else if (r->odd_end > 0) {
		size_t	n = field_name(l->p, l->len, NULL);

		/* A Bcc: the writer meant for the header would go to every
		 * recipient: refused, nothing sent. */
		if (n > 0 && is_name(l->p, n, "bcc"))
			return mxk_err_set(r->e, MXK_ERR_DATA, MXK_SRC_LOCAL,
			    "5.6.0", "line %zu is no header field, so the "
			    "header ends there, and the Bcc field on line %zu "
			    "would be shown to every recipient (-t): end the "
			    "header with an empty line; nothing was sent",
			    r->odd_end, r->m->lines);
	}
body:
	if (emit(r, l->p != NULL ? l->p : "", l->len) == -1 ||
	    emit(r, "\r\n", 2) == -1)
		return -1;
	mxk_buf_reset(l);
	return 0;
append:
	if (mxk_buf_add(&r->field, l->p, l->len) == -1 ||
	    mxk_buf_add(&r->field, "\r\n", 2) == -1)
		return mxk_err_set(r->e, MXK_ERR_DATA, MXK_SRC_LOCAL, "5.6.0",
		    "header field longer than %zu octets at line %zu",
		    r->max_header, r->m->lines);
	mxk_buf_reset(l);
	return 0;
}

static int
too_long(struct rd *r)
{
	return mxk_err_set(r->e, MXK_ERR_DATA, MXK_SRC_LOCAL, "5.6.0",
	    "line %zu is longer than %zu octets (RFC 5321 4.5.3.1.6); "
	    "nothing was sent", r->m->lines + 1, r->max_line);
}

static int
add_octet(struct rd *r, char c)
{
	if ((unsigned char)c & 0x80)
		r->m->eightbit |= MSG_8BIT;
	else if (c == '\0')
		r->m->eightbit |= MSG_NUL;
	if (r->line.len >= r->max_line)
		return too_long(r);
	if (mxk_buf_addch(&r->line, c) == -1)
		return mxk_err_set(r->e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	return 0;
}

/* An unlinked private temporary file in dir (NULL: $TMPDIR, /tmp). */
static int
spool_file(const char *dir, int *fdp, struct mxk_err *e)
{
	char	path[4096];
	int	fd;

	if (dir == NULL)
		dir = getenv("TMPDIR");
	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	/* No name at all when the file system can (Linux O_TMPFILE). */
#ifdef O_TMPFILE
	if ((fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC,
	    0600)) != -1) {
		*fdp = fd;
		return 0;
	}
#endif
	if (snprintf(path, sizeof(path), "%s/mxkit-msg.XXXXXX", dir) >=
	    (int)sizeof(path))
		return mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_LOCAL, NULL,
		    "temporary directory name too long");
	/* mkstemp(): O_EXCL, mode 0600; unlinked at once. */
	if ((fd = mkstemp(path)) == -1)
		return mxk_err_sys(e, MXK_ERR_IO, "cannot make a temporary "
		    "file in %s", dir);
	(void)unlink(path);
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	*fdp = fd;
	return 0;
}

/* The end of a line: the slow path (header, dot_ends) or the fast one. */
static int
line_end(struct rd *r)
{
	if (r->in_header || r->p->dot_ends || r->odd_end > 0)
		return end_line(r);
	r->m->lines++;
	r->blen = 0;
	return emit(r, "\r\n", 2);
}

/*
 * The first CR or LF of p[from..n) (n when none); MSG_8BIT is set in *kind
 * when an octet before it is over 127, MSG_NUL when one is NUL (kind
 * NULL: not wanted).  Sixteen octets a
 * step with SSE2 (every x86-64), eight otherwise (the "has a zero byte"
 * word trick): a line costs a few instructions, not a loop per octet.
 */
static size_t
find_eol(const char *p, size_t from, size_t n, int *kind)
{
	size_t		i = from;
	unsigned char	c;
#if defined(__SSE2__)
	const __m128i	cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
	const __m128i	zero = _mm_setzero_si128();
	__m128i		v;
	unsigned	hit, hi, nul, below;

	for (; i + 16 <= n; i += 16) {
		v = _mm_loadu_si128((const void *)(p + i));
		hit = (unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
		if (kind != NULL) {
			hi = (unsigned)_mm_movemask_epi8(v);
			nul = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v,
			    zero));
			/* The octets below the first hit, or all 16. */
			below = hit != 0 ? (hit & -hit) - 1 : 0xffffu;
			if ((hi & below) != 0)
				*kind |= MSG_8BIT;
			if ((nul & below) != 0)
				*kind |= MSG_NUL;
		}
		if (hit != 0)
			return i + (size_t)__builtin_ctz(hit);
	}
#else
	const uint64_t	ones = 0x0101010101010101ULL;
	const uint64_t	highs = 0x8080808080808080ULL;
	uint64_t	w, x, y;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		x = w ^ (ones * '\r');
		y = w ^ (ones * '\n');
		if ((((x - ones) & ~x) | ((y - ones) & ~y)) & highs)
			break;		/* a CR or LF in these eight */
		if (kind != NULL && (w & highs) != 0)
			*kind |= MSG_8BIT;
		if (kind != NULL && ((w - ones) & ~w & highs) != 0)
			*kind |= MSG_NUL;
	}
#endif
	for (; i < n; i++) {
		c = (unsigned char)p[i];
		if (c == '\r' || c == '\n')
			return i;
		if (kind != NULL && c > 127)
			*kind |= MSG_8BIT;
		else if (kind != NULL && c == '\0')
			*kind |= MSG_NUL;
	}
	return n;
}

int
mxk_msg_read(int fd, const struct mxk_msg_params *p, struct mxk_msg **out,
    struct mxk_err *e)
{
	struct mxk_msg_params	 def;
	struct mxk_msg		*m;
	struct rd		*r;
	char			 in[IOBUF];
	struct stat		 st;
	ssize_t			 n, i;
	int			 prev_cr = 0, bare = 0, rc = -1;

	*out = NULL;
	if (p == NULL) {
		memset(&def, 0, sizeof(def));
		p = &def;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (r = calloc(1, sizeof(*r))) == NULL) {
		free(m);
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	}
	/*
	 * A regular file that needs no change beyond line ends is not
	 * copied: it is scanned now (sizes, line lengths) and normalised
	 * again as it is sent, which costs a second read from the page
	 * cache instead of a copy to disk.
	 */
	if (!p->extract_rcpts && p->add_from == NULL && !p->dot_ends &&
	    fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (m->base = lseek(fd, 0, SEEK_CUR)) != -1 &&
	    (m->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) != -1) {
		m->direct = 1;
		r->count_only = 1;
	} else if ((m->fd = memfd_create("mxkit-msg", MFD_CLOEXEC)) != -1)
		m->inmem = 1;
	else if (spool_file(p->tmpdir, &m->fd, e) == -1) {
		free(r);
		free(m);
		return -1;
	}
	r->tmpdir = p->tmpdir;

	r->m = m;
	r->p = p;
	r->e = e;
	r->max_line = p->max_line > 0 ? p->max_line : 998;
	r->max_header = p->max_header > 0 ? p->max_header : 64 * 1024;
	r->max_rcpts = p->max_rcpts > 0 ? p->max_rcpts : 10000;
	r->in_header = 1;
	mxk_buf_init(&r->line, r->max_line + 1);
	mxk_buf_init(&r->field, r->max_header);

	while (!r->done) {
		n = read(fd, in, sizeof(in));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			(void)mxk_err_sys(e, MXK_ERR_IO, "reading the message");
			goto out;
		}
		if (n == 0)
			break;
		for (i = 0; i < n && !r->done; ) {
			char c;

			if (prev_cr) {
				prev_cr = 0;
				if (line_end(r) == -1)
					goto out;
				if (in[i] == '\n') {
					i++;
					continue;
				}
				bare = 1;	/* a CR alone */
				if (r->done)
					break;
			}
			if (!r->in_header && !p->dot_ends && r->odd_end == 0) {
				/* The body, a span at a time. */
				ssize_t	j = (ssize_t)find_eol(in, (size_t)i,
					    (size_t)n, &m->eightbit);

				if (j > i) {
					if (r->blen + (size_t)(j - i) >
					    r->max_line) {
						(void)too_long(r);
						goto out;
					}
					if (emit(r, in + i, (size_t)(j - i)) ==
					    -1)
						goto out;
					r->blen += (size_t)(j - i);
				}
				if ((i = j) == n)
					break;
			}
			c = in[i++];
			if (c == '\r')
				prev_cr = 1;
			else if (c == '\n') {
				bare = 1;	/* an LF alone */
				if (line_end(r) == -1)
					goto out;
			} else if (add_octet(r, c) == -1)
				goto out;
		}
	}
	/* A last line without its end gets one (RFC 5321 §4.1.1.4). */
	if (!r->done && (prev_cr || r->line.len > 0 || r->blen > 0)) {
		bare = 1;
		if (line_end(r) == -1)
			goto out;
	}
	m->crlf = m->direct && !bare;
	if (r->in_header && end_header(r) == -1)
		goto out;
	if (flush_out(r) == -1)
		goto out;
	if (lseek(m->fd, m->direct ? m->base : 0, SEEK_SET) == -1) {
		(void)mxk_err_sys(e, MXK_ERR_IO, "spool file");
		goto out;
	}
	m->last_eol = m->bol = 1;
	*out = m;
	m = NULL;
	rc = 0;
out:
	mxk_buf_free(&r->line);
	mxk_buf_free(&r->field);
	free(r);
	mxk_msg_free(m);
	return rc;
}

void
mxk_msg_free(struct mxk_msg *m)
{
	size_t	i;

	if (m == NULL)
		return;
	if (m->fd != -1)
		(void)close(m->fd);
	free(m->raw);
	for (i = 0; i < m->nrcpt; i++)
		free(m->rcpt[i]);
	free(m->rcpt);
	free(m);
}

unsigned long long
mxk_msg_size(const struct mxk_msg *m)
{
	return m->size;
}

int
mxk_msg_8bit(const struct mxk_msg *m)
{
	return (m->eightbit & MSG_8BIT) != 0;
}

int
mxk_msg_nul(const struct mxk_msg *m)
{
	return (m->eightbit & MSG_NUL) != 0;
}

size_t
mxk_msg_lines(const struct mxk_msg *m)
{
	return m->lines;
}

int
mxk_msg_has_header(const struct mxk_msg *m, const char *name)
{
	size_t	k;

	for (k = 0; k < NKNOWN; k++)
		if (strcasecmp(name, known[k]) == 0)
			return (m->seen & (1u << k)) != 0;
	return 0;
}

size_t
mxk_msg_nrcpts(const struct mxk_msg *m)
{
	return m->nrcpt;
}

const char *
mxk_msg_rcpt(const struct mxk_msg *m, size_t i)
{
	return i < m->nrcpt ? m->rcpt[i] : NULL;
}

int
mxk_msg_rewind(struct mxk_msg *m, struct mxk_err *e)
{
	if (lseek(m->fd, m->direct ? m->base : 0, SEEK_SET) == -1)
		return mxk_err_sys(e, MXK_ERR_IO, "spool file");
	m->prev_cr = m->any = m->eof = m->owe_lf = 0;
	m->last_eol = m->bol = 1;
	m->rpos = m->rlen = 0;
	m->given = 0;
	return 0;
}

static ssize_t
read_raw(int fd, char *buf, size_t len, struct mxk_err *e)
{
	ssize_t	n;

	for (;;) {
		n = read(fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return mxk_err_sys(e, MXK_ERR_IO, "reading the message");
	}
}

/* CR LF into buf[*o..len); the LF waits for the next call when full. */
static void
put_crlf(struct mxk_msg *m, char *buf, size_t len, size_t *o)
{
	buf[(*o)++] = '\r';
	if (*o < len)
		buf[(*o)++] = '\n';
	else
		m->owe_lf = 1;
}

/*
 * The direct case: the same normalisation as mxk_msg_read() (CR LF, bare
 * CR and bare LF end a line; a last line gets its CRLF), applied while
 * reading.  buf is filled up to len (the LF of a CRLF that does not fit
 * comes first next time), so a caller gets exactly what it asks for until
 * the end; 0 only at the end.  Spans between line ends are copied whole.
 */
static ssize_t
read_direct(struct mxk_msg *m, char *buf, size_t len, struct mxk_err *e)
{
	size_t	 o = 0, k, end;
	ssize_t	 n;
	char	 c;

	if (m->raw == NULL && (m->raw = malloc(IOBUF)) == NULL)
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	m->dots = 0;
	if (m->owe_lf && len > 0) {
		buf[o++] = '\n';
		m->owe_lf = 0;
	}
	while (o < len) {
		if (m->rpos == m->rlen) {
			if (m->eof)
				break;
			if ((n = read_raw(m->fd, m->raw, IOBUF, e)) < 0)
				return -1;
			if (n == 0) {
				m->eof = 1;
				if (m->any && !m->last_eol) {
					m->last_eol = 1;
					put_crlf(m, buf, len, &o);
				}
				break;
			}
			m->rpos = 0;
			m->rlen = (size_t)n;
			m->any = 1;
		}
		c = m->raw[m->rpos];
		if (c == '\n' && m->prev_cr) {
			/* The LF of a CR LF: the line end is out already. */
			m->rpos++;
			m->prev_cr = 0;
			continue;
		}
		if (c == '\r' || c == '\n') {
			m->rpos++;
			m->prev_cr = c == '\r';
			m->last_eol = m->bol = 1;
			put_crlf(m, buf, len, &o);
			continue;
		}
		if (m->bol && c == '.')
			m->dots = 1;
		m->bol = 0;
		end = find_eol(m->raw, m->rpos, m->rlen, NULL);
		k = end - m->rpos;
		if (k > len - o)
			k = len - o;
		memcpy(buf + o, m->raw + m->rpos, k);
		o += k;
		m->rpos += k;
		m->prev_cr = m->last_eol = 0;
	}
	return (ssize_t)o;
}

/* A line starts at buf[i]: in this read, or the next one when i is n. */
static void
line_start(struct mxk_msg *m, const char *buf, size_t i, size_t n)
{
	if (i == n)
		m->bol = 1;
	else if (buf[i] == '.')
		m->dots = 1;
}

/*
 * The direct case for a file the scan found in SMTP form already (every
 * line ended by CR LF, the last one too): read straight into buf, and
 * check that it still is.  A file changed since the scan fails the read,
 * so that it can never put a bare CR or LF on the wire (RFC 5321 §2.3.8;
 * "SMTP smuggling" needs them).
 */
static ssize_t
read_crlf(struct mxk_msg *m, char *buf, size_t len, struct mxk_err *e)
{
	size_t	 i = 0, j, n;
	ssize_t	 got;

	if (m->eof || len == 0)
		return 0;
	if ((got = read_raw(m->fd, buf, len, e)) < 0)
		return -1;
	if (got == 0) {
		m->eof = 1;
		if (m->prev_cr || (m->any && !m->last_eol))
			goto changed;
		return 0;
	}
	n = (size_t)got;
	m->any = 1;
	m->dots = m->bol && buf[0] == '.';
	m->bol = 0;
	if (m->prev_cr) {
		if (buf[0] != '\n')
			goto changed;
		m->prev_cr = 0;
		line_start(m, buf, i = 1, n);
	}
	while ((j = find_eol(buf, i, n, NULL)) < n) {
		if (buf[j] == '\n')
			goto changed;		/* the LF after a CR is skipped */
		if (j + 1 == n) {
			m->prev_cr = 1;
			break;
		}
		if (buf[j + 1] != '\n')
			goto changed;
		line_start(m, buf, i = j + 2, n);
	}
	m->last_eol = buf[n - 1] == '\n';
	return got;
changed:
	return mxk_err_set(e, MXK_ERR_IO, MXK_SRC_LOCAL, NULL,
	    "the message file changed while being sent");
}

ssize_t
mxk_msg_read_chunk(struct mxk_msg *m, char *buf, size_t len,
    struct mxk_err *e)
{
	ssize_t	n;

	if (m->crlf)
		n = read_crlf(m, buf, len, e);
	else if (m->direct)
		n = read_direct(m, buf, len, e);
	else {
		m->dots = 1;		/* not looked at */
		return read_raw(m->fd, buf, len, e);
	}
	if (n < 0)
		return n;
	/*
	 * The caller's file is read again here, after it was scanned: if
	 * it changed size meanwhile, what goes out is not the message whose
	 * SIZE, line lengths and BDAT counts were announced (a BDAT sender
	 * would even wait forever for octets that never come).  Refuse to
	 * go on.
	 */
	if ((unsigned long long)n > m->size - m->given)
		return mxk_err_set(e, MXK_ERR_IO, MXK_SRC_LOCAL, NULL,
		    "the message file grew while it was being sent "
		    "(%llu octets expected)", m->size);
	if (n == 0 && m->eof && m->given != m->size)
		return mxk_err_set(e, MXK_ERR_IO, MXK_SRC_LOCAL, NULL,
		    "the message file shrank while it was being sent "
		    "(%llu of %llu octets)", m->given, m->size);
	m->given += (unsigned long long)n;
	return n;
}

int
mxk_msg_dots(const struct mxk_msg *m)
{
	return m->dots;
}

size_t
mxk_msg_dotstuff(const char *in, size_t len, char *out, int *bol)
{
	const char	*nl;
	size_t		 i = 0, o = 0, end;
	int		 b = *bol;

	while (i < len) {
		if (b && in[i] == '.')
			out[o++] = '.';
		nl = memchr(in + i, '\n', len - i);
		end = nl != NULL ? (size_t)(nl - in) + 1 : len;
		memcpy(out + o, in + i, end - i);
		o += end - i;
		i = end;
		b = nl != NULL;
	}
	*bol = b;
	return o;
}

/*
 * RFC 5322 §3.4 address lists, leniently: split at commas outside quotes,
 * angle brackets and comments; in each element the addr-spec is what is
 * inside <...>, else the element without comments and whitespace.  Group
 * names ("undisclosed-recipients:;") are skipped.
 */
int
mxk_msg_addr_list(const char *s, size_t len,
    int (*fn)(void *, const char *, size_t), void *arg)
{
	char	 cur[1024];
	size_t	 i, n = 0, lt = 0, gt = 0;
	int	 quote = 0, comment = 0, angle = 0, count = 0, have_lt = 0;

	for (i = 0; i <= len; i++) {
		char c = i < len ? s[i] : ',';

		if (quote) {
			if (c == '\\' && i + 1 < len) {
				if (n + 2 < sizeof(cur)) {
					cur[n++] = c;
					cur[n++] = s[++i];
				}
				continue;
			}
			if (c == '"')
				quote = 0;
			if (n + 1 < sizeof(cur))
				cur[n++] = c;
			continue;
		}
		if (comment > 0) {
			if (c == '(')
				comment++;
			else if (c == ')')
				comment--;
			else if (c == '\\' && i + 1 < len)
				i++;
			continue;
		}
		if (c == '(') {
			comment = 1;
			continue;
		}
		if (c == '"') {
			quote = 1;
			if (n + 1 < sizeof(cur))
				cur[n++] = c;
			continue;
		}
		if (c == '<') {
			angle = 1;
			have_lt = 1;
			lt = n;
			continue;
		}
		if (c == '>' && angle) {
			angle = 0;
			gt = n;
			continue;
		}
		if (!angle && c == ':') {
			/* A group's display name: drop what came before. */
			n = 0;
			have_lt = 0;
			continue;
		}
		if (!angle && (c == ',' || c == ';')) {
			const char	*a = cur;
			size_t		 al = n;

			if (have_lt) {
				a = cur + lt;
				al = (gt >= lt ? gt : n) - lt;
			}
			while (al > 0 && (*a == ' ' || *a == '\t' ||
			    *a == '\r' || *a == '\n')) {
				a++;
				al--;
			}
			while (al > 0 && (a[al - 1] == ' ' ||
			    a[al - 1] == '\t' || a[al - 1] == '\r' ||
			    a[al - 1] == '\n'))
				al--;
			if (al > 0) {
				if (fn(arg, a, al) == -1)
					return -1;
				count++;
			}
			n = lt = gt = 0;
			have_lt = 0;
			continue;
		}
		if (!angle && !have_lt && (c == ' ' || c == '\t' ||
		    c == '\r' || c == '\n')) {
			/* Folding whitespace in a bare addr-spec. */
			if (n > 0 && n + 1 < sizeof(cur))
				cur[n++] = ' ';
			continue;
		}
		if (n + 1 < sizeof(cur))
			cur[n++] = c;
	}
	return count;
}

/* ISC license. */

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "reply.h"

#define DEF_LINEMAX	2048
#define DEF_MAX		(64 * 1024)

static int
isdigit_c(char c)
{
	return c >= '0' && c <= '9';
}

static void
text_add(struct mxk_reply *r, const char *s, size_t n)
{
	size_t	have = strlen(r->text), i;

	if (r->nlines > 1) {
		if (have + 1 >= sizeof(r->text)) {
			r->truncated = 1;
			return;
		}
		r->text[have++] = '\n';
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (have + 1 >= sizeof(r->text)) {
			r->truncated = 1;
			break;
		}
		r->text[have++] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
	}
	r->text[have] = '\0';
}

/* At most len - 1 octets of a line, non-printables (and non-ASCII) as '?'. */
static void
shown_line(const char *s, size_t n, char *out, size_t len)
{
	size_t	i;

	for (i = 0; i < n && i + 1 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
	}
	out[i] = '\0';
}

/* Length of an enhanced status "C.S.D" at s (followed by space or end). */
static size_t
status_len(const char *s, size_t n)
{
	char	tmp[16];
	size_t	i;

	for (i = 0; i < n && i < sizeof(tmp) - 1 && s[i] != ' '; i++)
		tmp[i] = s[i];
	if (i == 0 || i >= sizeof(tmp) - 1 || (i < n && s[i] != ' '))
		return 0;
	tmp[i] = '\0';
	return mxk_err_status_valid(tmp) ? i : 0;
}

int
mxk_reply_parse(const char *p, size_t len, const struct mxk_reply_params *rp,
    struct mxk_reply *r, size_t *used, struct mxk_err *e)
{
	size_t	 linemax = rp != NULL && rp->linemax > 0 ? rp->linemax :
		    DEF_LINEMAX;
	size_t	 max = rp != NULL && rp->max > 0 ? rp->max : DEF_MAX;
	size_t	 off = 0, n, tl, sl;
	const char *lf, *line;
	int	 code = -1, c, last;

	memset(r, 0, sizeof(*r));
	for (;;) {
		size_t	avail = len - off, scan;

		if (avail == 0)
			goto more;
		scan = avail < linemax ? avail : linemax;
		if ((lf = memchr(p + off, '\n', scan)) == NULL) {
			if (avail >= linemax)
				return mxk_err_set(e, MXK_ERR_PROTO,
				    MXK_SRC_SMTP, "5.5.0",
				    "reply line longer than %zu octets",
				    linemax);
			goto more;
		}
		line = p + off;
		n = (size_t)(lf - line);	/* without LF */
		if (n > 0 && line[n - 1] == '\r')
			n--;
		off = (size_t)(lf - p) + 1;
		if (off > max)
			return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_SMTP,
			    "5.5.0", "reply longer than %zu octets", max);
		if (n < 3 || line[0] < '2' || line[0] > '5' ||
		    !isdigit_c(line[1]) || !isdigit_c(line[2]) ||
		    (n > 3 && line[3] != ' ' && line[3] != '-')) {
			char	shown[81];

			/* The line is hostile: shown as text_add() would. */
			shown_line(line, n, shown, sizeof(shown));
			return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_SMTP,
			    "5.5.0", "malformed reply line \"%s\"", shown);
		}
		c = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		if (code != -1 && c != code)
			return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_SMTP,
			    "5.5.0", "reply code changed from %d to %d "
			    "inside a multi-line reply", code, c);
		code = c;
		last = n == 3 || line[3] == ' ';
		r->nlines++;
		tl = n > 4 ? n - 4 : 0;
		if (r->nlines == 1 && tl > 0 &&
		    (sl = status_len(line + 4, tl)) > 0 &&
		    line[4] == line[0]) {
			/*
			 * RFC 3463 §2: the class digit of the status must
			 * match the reply; a mismatching one is ignored and
			 * left in the text.
			 */
			memcpy(r->status, line + 4, sl);
			r->status[sl] = '\0';
			r->has_status = 1;
			text_add(r, line + 4 + sl + (sl < tl ? 1 : 0),
			    tl - sl - (sl < tl ? 1 : 0));
		} else
			text_add(r, line + 4, tl);
		if (last)
			break;
	}
	r->code = code;
	if (!r->has_status)
		(void)snprintf(r->status, sizeof(r->status), "%d.0.0",
		    code / 100 == 3 ? 2 : code / 100);
	*used = off;
	return 1;
more:
	memset(r, 0, sizeof(*r));
	return 0;
}

const char *
mxk_reply_first_line(const struct mxk_reply *r, char *out, size_t outlen)
{
	size_t	n = strcspn(r->text, "\n");

	if (outlen == 0)
		return out;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, r->text, n);
	out[n] = '\0';
	return out;
}

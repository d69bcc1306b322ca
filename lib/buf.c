/* ISC license. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_MINCAP	64

void
mxk_buf_init(struct mxk_buf *b, size_t max)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
mxk_buf_free(struct mxk_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

void
mxk_buf_wipe(struct mxk_buf *b)
{
	if (b->p != NULL)
		explicit_bzero(b->p, b->cap);
	mxk_buf_free(b);
}

void
mxk_buf_reset(struct mxk_buf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

/* Ensure room for n more content bytes plus the NUL. */
static int
grow(struct mxk_buf *b, size_t n)
{
	size_t	 need, ncap;
	char	*np;

	if (n > b->max || b->len > b->max - n)
		return -1;
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap < BUF_MINCAP ? BUF_MINCAP : b->cap;
	while (ncap < need) {
		if (ncap > ((size_t)-1) / 2) {
			ncap = need;
			break;
		}
		ncap *= 2;
	}
	/* Never allocate much beyond what max allows. */
	if (ncap > b->max + 1 && need <= b->max + 1)
		ncap = b->max + 1;
	if ((np = realloc(b->p, ncap)) == NULL)
		return -1;
	b->p = np;
	b->cap = ncap;
	return 0;
}

int
mxk_buf_add(struct mxk_buf *b, const void *data, size_t n)
{
	if (grow(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
mxk_buf_addstr(struct mxk_buf *b, const char *s)
{
	return mxk_buf_add(b, s, strlen(s));
}

int
mxk_buf_addch(struct mxk_buf *b, char c)
{
	return mxk_buf_add(b, &c, 1);
}

int
mxk_buf_vprintf(struct mxk_buf *b, const char *fmt, va_list ap)
{
	va_list	 ap2;
	int	 n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || grow(b, (size_t)n) == -1)
		return -1;
	(void)vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
mxk_buf_printf(struct mxk_buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 r;

	va_start(ap, fmt);
	r = mxk_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

char *
mxk_buf_space(struct mxk_buf *b, size_t n)
{
	if (grow(b, n) == -1)
		return NULL;
	return b->p + b->len;
}

void
mxk_buf_commit(struct mxk_buf *b, size_t n)
{
	if (b->p == NULL || n > b->cap - b->len - 1)
		return;
	b->len += n;
	b->p[b->len] = '\0';
}

void
mxk_buf_consume(struct mxk_buf *b, size_t n)
{
	if (n >= b->len) {
		mxk_buf_reset(b);
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
	b->p[b->len] = '\0';
}

void
mxk_buf_truncate(struct mxk_buf *b, size_t n)
{
	if (n >= b->len)
		return;
	b->len = n;
	b->p[n] = '\0';
}

int
mxk_buf_line(const struct mxk_buf *b, size_t limit, size_t *linelen)
{
	size_t	 scan;
	char	*lf;

	if (b->len == 0)
		return MXK_LINE_MORE;
	scan = b->len < limit ? b->len : limit;
	if ((lf = memchr(b->p, '\n', scan)) != NULL) {
		*linelen = (size_t)(lf - b->p) + 1;
		return MXK_LINE_OK;
	}
	return b->len >= limit ? MXK_LINE_LONG : MXK_LINE_MORE;
}

int
mxk_buf_skipline(struct mxk_buf *b)
{
	char	*lf;

	if (b->len == 0)
		return 0;
	if ((lf = memchr(b->p, '\n', b->len)) == NULL) {
		mxk_buf_reset(b);
		return 0;
	}
	mxk_buf_consume(b, (size_t)(lf - b->p) + 1);
	return 1;
}

size_t
mxk_line_trim(const char *s, size_t len)
{
	if (len > 0 && s[len - 1] == '\n')
		len--;
	if (len > 0 && s[len - 1] == '\r')
		len--;
	return len;
}

/* ISC license. */

/*
 * buf: a growable byte buffer with a mandatory cap, and a bounded line reader.
 *
 * struct mxk_buf lives on the caller's stack or inside another struct; its
 * members are read-only outside buf.c.  The content is always NUL-terminated
 * (the NUL is not counted in len), so p can be used as a C string when the
 * data holds no NUL.  Appending past max fails with -1 and leaves the buffer
 * unchanged: every append must be checked.  max counts content bytes; it is
 * never implicit (curl dynbuf does the same).
 *
 * The line reader works on bytes already in a buffer: mxk_buf_line() finds
 * the first LF within the first `limit` bytes.  It reports a line, "need more
 * data", or "line too long"; after a too-long line the caller may discard up
 * to the next LF with mxk_buf_skipline() (Postfix SMTP_GET_FLAG_SKIP).
 */
#ifndef MXK_BUF_H
#define MXK_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct mxk_buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	size_t	 max;
};

/* Set up an empty buffer that may hold up to max bytes.  Never fails. */
void	 mxk_buf_init(struct mxk_buf *, size_t max);
/* Free the storage; the buffer is empty and usable again. */
void	 mxk_buf_free(struct mxk_buf *);
/* Free after overwriting the content with zeros (credentials). */
void	 mxk_buf_wipe(struct mxk_buf *);
/* Empty the buffer, keeping the storage. */
void	 mxk_buf_reset(struct mxk_buf *);

/* Append; 0 or -1 (over max, or out of memory) with the buffer unchanged. */
int	 mxk_buf_add(struct mxk_buf *, const void *, size_t)
	    __attribute__((warn_unused_result));
int	 mxk_buf_addstr(struct mxk_buf *, const char *)
	    __attribute__((warn_unused_result));
int	 mxk_buf_addch(struct mxk_buf *, char)
	    __attribute__((warn_unused_result));
int	 mxk_buf_printf(struct mxk_buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3), warn_unused_result));
int	 mxk_buf_vprintf(struct mxk_buf *, const char *, va_list)
	    __attribute__((format(printf, 2, 0), warn_unused_result));

/* Make room for n more bytes; returns a pointer to write them or NULL.
 * Commit what was written with mxk_buf_commit(). */
char	*mxk_buf_space(struct mxk_buf *, size_t n);
void	 mxk_buf_commit(struct mxk_buf *, size_t n);

/* Remove the first n bytes (n > len empties the buffer). */
void	 mxk_buf_consume(struct mxk_buf *, size_t n);
/* Cut the content to n bytes (n >= len does nothing). */
void	 mxk_buf_truncate(struct mxk_buf *, size_t n);

/* Line reader results. */
#define MXK_LINE_OK	 1	/* *linelen bytes form a line, LF included */
#define MXK_LINE_MORE	 0	/* no LF yet and still under the limit */
#define MXK_LINE_LONG	-1	/* no LF within limit bytes */

/*
 * Look for a line at the start of b.  limit is the longest accepted line,
 * terminator included.  On MXK_LINE_OK, *linelen is the length including LF;
 * the line is at b->p and is removed by mxk_buf_consume(b, *linelen).
 */
int	 mxk_buf_line(const struct mxk_buf *, size_t limit, size_t *linelen);

/*
 * Drop bytes up to and including the next LF.  Returns 1 when an LF was
 * found, 0 when everything was dropped and the line goes on.
 */
int	 mxk_buf_skipline(struct mxk_buf *);

/* Length of a line without its CRLF or LF terminator. */
size_t	 mxk_line_trim(const char *, size_t len);

#endif

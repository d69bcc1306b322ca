/* ISC license. */

/*
 * msg: the message an SMTP client sends, read once from a file descriptor
 * and kept in a private, unlinked temporary file, so that it can be sent
 * several times (one session per domain) in constant memory whatever its
 * size.
 *
 * On the way in the message is normalised (RFC 5321 §2.3.8, §4.1.1.4):
 * bare LF and bare CR become CRLF, and a final CRLF is added when missing.
 * It is scanned for what the envelope needs: its size in that form (SIZE,
 * RFC 1870), whether it has octets above 127 (BODY=8BITMIME, RFC 6152),
 * and every line's length: a line longer than params.max_line octets
 * (without CRLF; RFC 5321 §4.5.3.1.6 says 998) makes the read fail with
 * MXK_ERR_DATA 5.6.0 before anything is sent, naming the line.  Nothing is
 * dot-stuffed here: the sender does that (DATA) or not (BDAT).
 *
 * Options for sendmail(8) compatibility:
 *   dot_ends       a line holding only "." ends the input (sendmail
 *                  without -i / -oi);
 *   extract_rcpts  the addresses of the To, Cc and Bcc header fields are
 *                  collected (sendmail -t), and Bcc fields are removed
 *                  from the copy that is sent;
 *   add_from       a "From:" field added at the top when the header has
 *                  none (sendmail -F / -f).
 * A header field longer than params.max_header is refused (MXK_ERR_DATA).
 *
 * The temporary file is made with mkstemp() in params.tmpdir (NULL:
 * $TMPDIR, else /tmp), mode 0600, and unlinked at once.  Read errors are
 * MXK_ERR_IO.
 */
#ifndef MXK_MSG_H
#define MXK_MSG_H

#include <sys/types.h>
#include <stddef.h>

#include "err.h"

struct mxk_msg_params {
	size_t		 max_line;	/* 0: 998 */
	size_t		 max_header;	/* one header field; 0: 64 KiB */
	unsigned long long max_size;	/* 0: no limit */
	size_t		 max_rcpts;	/* from headers; 0: 10000 */
	const char	*tmpdir;
	int		 dot_ends;
	int		 extract_rcpts;
	const char	*add_from;	/* the whole field value */
};

struct mxk_msg;

int	 mxk_msg_read(int fd, const struct mxk_msg_params *, struct mxk_msg **,
	    struct mxk_err *);
void	 mxk_msg_free(struct mxk_msg *);

unsigned long long mxk_msg_size(const struct mxk_msg *);
int	 mxk_msg_8bit(const struct mxk_msg *);
/* 1 when the message holds a NUL octet: only BINARYMIME may carry it. */
int	 mxk_msg_nul(const struct mxk_msg *);
size_t	 mxk_msg_lines(const struct mxk_msg *);
int	 mxk_msg_has_header(const struct mxk_msg *, const char *name);

/* The addresses of To/Cc/Bcc (extract_rcpts), as written (no IDN work). */
size_t		 mxk_msg_nrcpts(const struct mxk_msg *);
const char	*mxk_msg_rcpt(const struct mxk_msg *, size_t);

/*
 * Start again at the first octet; then read up to len octets (0: end).
 * A read returns less than len only at the end of the message, so that a
 * caller can ask for exact counts (BDAT).  A regular file given to
 * mxk_msg_read() is read in place; when it was already in CR LF form it
 * is sent as read, and a read fails (MXK_ERR_IO) if it changed since into
 * something with a bare CR or LF, or no longer ends with CR LF.
 */
int	 mxk_msg_rewind(struct mxk_msg *, struct mxk_err *);
ssize_t	 mxk_msg_read_chunk(struct mxk_msg *, char *buf, size_t len,
	    struct mxk_err *);
/*
 * After a read: 0 when no line in the octets it gave starts with '.' (a
 * regular file is looked at as it is read), so that DATA can send them
 * without a copy; 1 when one may (mxk_msg_dotstuff() decides).
 */
int	 mxk_msg_dots(const struct mxk_msg *);

/*
 * Dot-stuffing (RFC 5321 §4.5.2), streamed: copy in[0..len) to out
 * (room for 2 * len), doubling a '.' at the start of a line; *bol says
 * whether the next octet starts a line (1 before the first call).  Returns
 * the length written.  Pure.
 */
size_t	 mxk_msg_dotstuff(const char *in, size_t len, char *out, int *bol);

/*
 * Split an RFC 5322 address-list (a To/Cc/Bcc field body) into addr-specs:
 * display names, comments and group syntax are dropped.  Calls fn for
 * each address; returns how many, or -1 when fn returns -1.  Pure.
 */
int	 mxk_msg_addr_list(const char *s, size_t len,
	    int (*fn)(void *, const char *, size_t), void *arg);

#endif

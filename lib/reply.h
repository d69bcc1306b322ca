/* ISC license. */

/*
 * reply: the SMTP reply parser (RFC 5321 §4.2), pure: bytes in, reply out.
 *
 * mxk_reply_parse() looks at the bytes received so far and reports a
 * complete reply, "need more", or a protocol error.  A reply is one or more
 * lines "DDD-text" ended by "DDD text" (or a bare "DDD"); every line must
 * carry the same code, whose first digit is 2 to 5.  Lines end with CRLF;
 * a bare LF is tolerated.  Each line is bounded by params->linemax and the
 * whole reply by params->max; past either the reply is refused (5.5.0),
 * never buffered without bound.  The text is kept printable: octets outside
 * 0x20-0x7e become '?'.  An enhanced status code (RFC 2034/3463) on the
 * first line is believed only when its class digit equals the reply's
 * first digit (Postfix does the same); otherwise status is synthesised as
 * "C.0.0".  Garbage in a reply is an error, not something to skip: with
 * pipelining, skipping would shift every later reply onto the wrong
 * command.
 */
#ifndef MXK_REPLY_H
#define MXK_REPLY_H

#include <stddef.h>

#include "err.h"

#define MXK_REPLY_TEXTMAX	4096

struct mxk_reply_params {
	size_t	 linemax;	/* longest line, CRLF included; 0: 2048
				 * (RFC 5321 §4.5.3.1.5 says 512; servers
				 * exceed it) */
	size_t	 max;		/* whole reply; 0: 64 KiB */
};

struct mxk_reply {
	int	 code;
	char	 status[16];		/* "2.0.0" (believed or synthesised) */
	int	 has_status;		/* the server sent a matching one */
	size_t	 nlines;
	/* Lines joined with '\n', each without code and separator, the first
	 * without its enhanced status; truncated at MXK_REPLY_TEXTMAX - 1. */
	char	 text[MXK_REPLY_TEXTMAX];
	int	 truncated;
};

/*
 * Parse the reply at the start of p[0..len).  Returns 1 with *r filled and
 * *used the bytes it took, 0 when more bytes are needed (nothing filled),
 * -1 on a malformed or over-long reply (MXK_ERR_PROTO, MXK_SRC_SMTP,
 * 5.5.0).
 */
int	 mxk_reply_parse(const char *p, size_t len,
	    const struct mxk_reply_params *, struct mxk_reply *r,
	    size_t *used, struct mxk_err *);

/* The first line of the text (up to '\n') into out: for one-line output. */
const char	*mxk_reply_first_line(const struct mxk_reply *, char *out,
		    size_t outlen);

#endif

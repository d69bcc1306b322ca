/* ISC license. */

/*
 * smtpc: SMTP client pieces.
 *
 * This first part holds what every SMTP client here needs: reading one
 * reply from a transport under a deadline (lib/reply does the parsing),
 * sending one command line (refused when it holds CR or LF, so data can
 * never smuggle a second command), and the EHLO capabilities (RFC 5321
 * §4.1.1.1 and the extension RFCs).  The message-transaction engine
 * (MAIL/RCPT/DATA/BDAT, pipelining) builds on these.
 *
 * Replies and capabilities are bounded (lib/reply limits, fixed fields);
 * the transport is a struct mxk_conn (plain or TLS).  Every protocol line
 * goes to the transcript (mxk_log_proto) at level info, AUTH redacted.
 */
#ifndef MXK_SMTPC_H
#define MXK_SMTPC_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "net.h"
#include "reply.h"

struct mxk_ehlo {
	int		 esmtp;		/* EHLO answered 250 */
	char		 name[256];	/* the server's name (first line) */
	int		 starttls;	/* RFC 3207 */
	int		 pipelining;	/* RFC 2920 */
	int		 chunking;	/* RFC 3030 */
	int		 binarymime;
	int		 eightbitmime;	/* RFC 6152 */
	int		 smtputf8;	/* RFC 6531 */
	int		 dsn;		/* RFC 3461 */
	int		 enhancedstatus; /* RFC 2034 */
	int		 size;		/* RFC 1870: SIZE advertised */
	unsigned long long size_max;	/* 0: no limit given */
	char		 auth[256];	/* mechanisms, space-separated, upper */
};

/* Parse the capabilities of a 250 EHLO reply.  Unknown lines are ignored. */
void	 mxk_ehlo_parse(const struct mxk_reply *, struct mxk_ehlo *);
/* 1 when the space-separated list holds the mechanism (case-insensitive). */
int	 mxk_ehlo_has_auth(const struct mxk_ehlo *, const char *mech);

/* A client connection: transport, input buffer, limits, transcript. */
struct mxk_smtpc_io {
	struct mxk_conn		*conn;
	struct mxk_buf		 in;		/* bytes read, not yet parsed */
	struct mxk_reply_params	 rp;
	struct mxk_transcript	 ts;
};

/* in is set up with a cap of 2 * rp.max (or 128 KiB). */
void	 mxk_smtpc_io_init(struct mxk_smtpc_io *, struct mxk_conn *,
	    const struct mxk_reply_params *);
void	 mxk_smtpc_io_free(struct mxk_smtpc_io *);	/* not the conn */

/*
 * Read one reply before the deadline.  1 with *r filled; -1 on error
 * (timeout or EOF: TEMP 4.4.2; malformed or over-long: PROTO 5.5.0).
 */
int	 mxk_smtpc_read(struct mxk_smtpc_io *, struct mxk_reply *,
	    long long deadline, struct mxk_err *);

/*
 * Send "line\r\n" (line without CRLF) and read the reply.  A line holding
 * CR or LF is refused (MXK_ERR_DATA) before anything is sent.  Returns 1
 * with *r filled, -1 on error.
 */
int	 mxk_smtpc_cmd(struct mxk_smtpc_io *, const char *line,
	    struct mxk_reply *, long long deadline, struct mxk_err *);

/* Send a line without reading (pipelining, QUIT). */
int	 mxk_smtpc_send(struct mxk_smtpc_io *, const char *line,
	    long long deadline, struct mxk_err *);

/*
 * EHLO name, falling back to HELO when EHLO gets a 5xx (RFC 5321
 * §4.1.4... and §3.2).  On success caps are filled (esmtp 0 after HELO).
 * A 4xx/5xx to both is an error carrying the server's reply.
 */
int	 mxk_smtpc_ehlo(struct mxk_smtpc_io *, const char *name,
	    struct mxk_ehlo *caps, struct mxk_reply *r, long long deadline,
	    struct mxk_err *);

/*
 * After STARTTLS: bytes the server sent before the handshake must not be
 * taken as TLS-protected (CVE-2011-0411 class).  Returns 1 when the input
 * buffer held such bytes (they are discarded), 0 otherwise.
 */
int	 mxk_smtpc_drop_plaintext(struct mxk_smtpc_io *);

#endif

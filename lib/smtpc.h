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
#include "msg.h"
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
	int			 lmtp;		/* LHLO instead of EHLO */
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
 * EHLO name (LHLO with io->lmtp, RFC 2033 §4.1, without fallback), falling
 * back to HELO when EHLO gets a 5xx (RFC 5321
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

/*
 * AUTH (RFC 4954): PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195) and
 * XOAUTH2 (secret is the OAuth 2.0 access token).  mech NULL picks the
 * first the server offers of CRAM-MD5, PLAIN, LOGIN.  The transcript
 * shows "AUTH MECH ********" and no secret.  Returns 0 on 235; -1 with e:
 * 535 and other 5xx MXK_ERR_AUTH, 4xx TEMP, no common mechanism
 * MXK_ERR_AUTH 5.7.4 (nothing sent), broken exchange PROTO.
 */
int	 mxk_smtpc_auth(struct mxk_smtpc_io *, const struct mxk_ehlo *,
	    const char *mech, const char *user, const char *secret,
	    long long deadline, struct mxk_err *);

/*
 * One mail transaction (RFC 5321 §3.3): MAIL, RCPT for each recipient,
 * then DATA with the message dot-stuffed (RFC 5321 §4.5.2), or BDAT chunks
 * (RFC 3030) when the server offers CHUNKING and the caller allows it.
 * With PIPELINING (RFC 2920) MAIL, every RCPT and DATA go out in one write
 * and the replies are read in order; BDAT is sent after the RCPT replies.
 * Parameters, each only when the server offers the extension: SIZE (RFC
 * 1870; a message over the server's declared limit is refused here,
 * before MAIL, 552 5.3.4), BODY=8BITMIME (RFC 6152) for 8-bit messages,
 * SMTPUTF8 (RFC 6531; without server support every recipient is bounced
 * 553 5.6.7 before MAIL), DSN (RFC 3461: RET, ENVID, NOTIFY, ORCPT, the
 * values xtext-encoded).  LMTP (RFC 2033): one reply per accepted
 * recipient after the message.
 *
 * Per-recipient outcomes land in rcpt[]: SENT (2xx after the message),
 * DEFERRED (4xx at RCPT, MAIL or after the message), BOUNCED (5xx).  The
 * call returns 0 when the dialogue went to its end (whatever the
 * outcomes), -1 with e set when the session broke (timeout, connection
 * lost, malformed reply): recipients still PENDING then have not been
 * sent.  Timeouts are RFC 5321 §4.5.3.2's unless set.
 */
enum mxk_rcpt_state {
	MXK_RCPT_PENDING = 0,
	MXK_RCPT_SENT,
	MXK_RCPT_DEFERRED,
	MXK_RCPT_BOUNCED
};

struct mxk_smtpc_rcpt {
	const char		*addr;		/* as sent: RCPT TO:<addr> */
	const char		*orcpt;		/* DSN ORCPT (rfc822); NULL */
	enum mxk_rcpt_state	 state;
	int			 accepted;	/* RCPT got 2xx */
	int			 code;
	char			 status[16];
	char			 text[MXK_ERR_MSGMAX]; /* first line of the reply */
};

struct mxk_smtpc_txn {
	const char		*from;		/* "" for the null sender */
	struct mxk_msg		*msg;
	int			 smtputf8;
	const char		*dsn_notify;	/* "SUCCESS,FAILURE" ...; NULL */
	const char		*dsn_ret;	/* "FULL" or "HDRS"; NULL */
	const char		*dsn_envid;	/* NULL */
	int			 lmtp;
	int			 no_chunking;
	int			 no_pipelining;
	int			 rset;		/* RSET first (a transaction came
						 * before on this session); it
						 * goes in the pipelined group,
						 * RFC 2920 §3.1 */
	size_t			 chunk;		/* BDAT chunk; 0: 1 MiB */
	int			 mail_timeout_ms; /* 0: 300000 */
	int			 rcpt_timeout_ms; /* 0: 300000 */
	int			 data_timeout_ms; /* DATA to 354; 0: 120000 */
	int			 block_timeout_ms; /* each write; 0: 180000 */
	int			 final_timeout_ms; /* after "."; 0: 600000 */
	/* Out. */
	int			 refused;	/* MAIL, DATA or the size */
	int			 used_bdat, used_pipelining;
	struct mxk_reply	 last;		/* the refusing reply */
};

int	 mxk_smtpc_transaction(struct mxk_smtpc_io *, const struct mxk_ehlo *,
	    struct mxk_smtpc_txn *, struct mxk_smtpc_rcpt *, size_t n,
	    long long deadline, struct mxk_err *);

/* RFC 3461 §4 xtext of s into out; -1 when it does not fit. */
int	 mxk_smtpc_xtext(const char *s, char *out, size_t outlen);

/* RSET (between transactions); 0 on 250. */
int	 mxk_smtpc_rset(struct mxk_smtpc_io *, long long deadline,
	    struct mxk_err *);

#endif

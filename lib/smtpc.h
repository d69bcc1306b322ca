/* ISC license. */

/*
 * smtpc: the SMTP (and LMTP) client.
 *
 * Two layers.  The engine (struct mxk_smtpc, below) is the dialogue as a
 * state machine with no I/O inside: it is given the replies the server
 * sent, as bytes (mxk_smtpc_feed) or parsed (mxk_smtpc_reply), and says
 * what to do next: send the commands it queued, wait for a reply, send
 * the message (DATA) or a BDAT chunk, or that the operation is over, with
 * each recipient's outcome reported on the way.  It covers EHLO (HELO
 * fallback), AUTH and the mail transaction; the message itself never goes
 * through it, so its memory does not depend on the message size.
 *
 * Over the engine, blocking drivers on a struct mxk_smtpc_io (a transport
 * with deadlines): mxk_smtpc_ehlo(), mxk_smtpc_auth() and
 * mxk_smtpc_transaction(); with them the small helpers every client here
 * needs: reading one reply (lib/reply does the parsing), sending one
 * command line (refused when it holds CR or LF, so data can never smuggle
 * a second command), and the EHLO capabilities (RFC 5321 §4.1.1.1 and the
 * extension RFCs).
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
 * lost, a malformed reply, or one that the command cannot have, such as a
 * 3xx to RCPT or a 2xx to DATA: MXK_ERR_PROTO 5.5.0): recipients still
 * PENDING then have not been sent.  Timeouts are RFC 5321 §4.5.3.2's
 * unless set.  The dialogue is the engine's (below); this call drives it
 * over io, streaming the message in blocks (constant memory).
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

/* RFC 3461 §4.4: the longest ENVID, xtext-encoded. */
#define MXK_DSN_ENVID_MAX	100

/* RFC 3461 §4 xtext of s into out; -1 when it does not fit. */
int	 mxk_smtpc_xtext(const char *s, char *out, size_t outlen);
/* RFC 6533 §3 utf-8-addr-unitext of s (UTF-8 kept; '+', '=', backslash,
 * space and controls as \x{HEX}); -1 when it does not fit. */
int	 mxk_smtpc_unitext(const char *s, char *out, size_t outlen);

/* RSET (between transactions); 0 on 250. */
int	 mxk_smtpc_rset(struct mxk_smtpc_io *, long long deadline,
	    struct mxk_err *);

/*
 * The engine.
 *
 * One engine serves one operation at a time on one session: start it with
 * mxk_smtpc_start_ehlo(), _auth() or _txn(), then loop on mxk_smtpc_next()
 * and do what the event says:
 *
 *   SEND     write the bytes of mxk_smtpc_output() (whole CRLF-ended
 *            command lines; a pipelined group is one output) and report
 *            them with mxk_smtpc_sent();
 *   READ     a reply is awaited: give the octets received with
 *            mxk_smtpc_feed() (it takes the complete replies at their
 *            start and says how many octets it used; keep the rest and
 *            add to it), or a parsed reply with mxk_smtpc_reply();
 *   RCPT     rcpt[ev.rcpt] has its final outcome (nothing to do; every
 *            outcome is reported once, before DONE or ERROR);
 *   MESSAGE  the server said 354: send the message dot-stuffed (RFC 5321
 *            §4.5.2) and ended by ".\r\n", then mxk_smtpc_message_sent();
 *   CHUNK    BDAT (RFC 3030): write the output (the BDAT command), then
 *            ev.len octets of the message from offset ev.off, unstuffed,
 *            then mxk_smtpc_message_sent();
 *   DONE     the operation is over (a transaction: whatever the outcomes);
 *   ERROR    it failed, *ev.err says why: EHLO or AUTH refused, a broken
 *            dialogue (a malformed reply, one no command can have, such as
 *            a 2xx to DATA: MXK_ERR_PROTO 5.5.0).  After a failed
 *            transaction the session is unusable.
 *
 * ev.timeout_ms is RFC 5321 §4.5.3.2's limit for the wait the event asks
 * for (the transaction's own settings, or 0: no limit of its own); the
 * caller turns it into a deadline.  Nothing is read from or written to a
 * file descriptor, and nothing depends on time: the same replies give the
 * same output and events, however they are split across feeds.
 *
 * The engine keeps pointers to what is given to the start functions (the
 * capabilities, the transaction, the recipients, the user and secret):
 * they must stay valid until DONE or ERROR.  Output that carried AUTH
 * credentials is wiped once sent.  Limits: replies as struct
 * mxk_reply_params says; the output (a pipelined group) 4 MiB.
 */
struct mxk_smtpc;

enum mxk_smtpc_evtype {
	MXK_SMTPC_EV_SEND = 1,
	MXK_SMTPC_EV_READ,
	MXK_SMTPC_EV_RCPT,
	MXK_SMTPC_EV_MESSAGE,
	MXK_SMTPC_EV_CHUNK,
	MXK_SMTPC_EV_DONE,
	MXK_SMTPC_EV_ERROR
};

struct mxk_smtpc_event {
	enum mxk_smtpc_evtype	 type;
	int			 timeout_ms;	/* 0: the caller's deadline */
	size_t			 rcpt;		/* RCPT: the index */
	unsigned long long	 off;		/* CHUNK: from this octet */
	size_t			 len;		/* CHUNK: this many */
	int			 last;		/* CHUNK: BDAT ... LAST */
	const struct mxk_err	*err;		/* ERROR */
};

/* NULL: out of memory.  rp NULL: lib/reply's defaults. */
struct mxk_smtpc	*mxk_smtpc_new(const struct mxk_reply_params *rp);
void			 mxk_smtpc_free(struct mxk_smtpc *);

/*
 * Start an operation (abandoning any in progress).  -1 with e when it
 * cannot start (nothing queued): a name or credentials too long, no
 * common AUTH mechanism, a MAIL or RCPT command that cannot be built.
 * A transaction that is refused before MAIL (SIZE, SMTPUTF8; see
 * mxk_smtpc_transaction) starts and is DONE at once, with its outcomes.
 */
int	 mxk_smtpc_start_ehlo(struct mxk_smtpc *, const char *name, int lmtp,
	    struct mxk_ehlo *caps, struct mxk_err *);
int	 mxk_smtpc_start_auth(struct mxk_smtpc *, const struct mxk_ehlo *,
	    const char *mech, const char *user, const char *secret,
	    struct mxk_err *);
int	 mxk_smtpc_start_txn(struct mxk_smtpc *, const struct mxk_ehlo *,
	    struct mxk_smtpc_txn *, struct mxk_smtpc_rcpt *, size_t n,
	    struct mxk_err *);

void	 mxk_smtpc_next(struct mxk_smtpc *, struct mxk_smtpc_event *);
const char *mxk_smtpc_output(const struct mxk_smtpc *, size_t *len);
void	 mxk_smtpc_sent(struct mxk_smtpc *, size_t len);
/*
 * Take the complete replies at the start of p[0..len) while one is
 * awaited; *used is the octets taken.  1: at least one reply taken; 0:
 * more octets are needed (or no reply is awaited); -1: the reply was
 * malformed or broke the dialogue (ERROR follows).
 */
int	 mxk_smtpc_feed(struct mxk_smtpc *, const char *p, size_t len,
	    size_t *used);
/* One parsed reply: 0 taken, -1 not awaited or breaking (ERROR). */
int	 mxk_smtpc_reply(struct mxk_smtpc *, const struct mxk_reply *);
void	 mxk_smtpc_message_sent(struct mxk_smtpc *);

/* The last reply taken (EHLO's, or the one that ended the operation). */
const struct mxk_reply	*mxk_smtpc_last(const struct mxk_smtpc *);
const char		*mxk_smtpc_state_name(const struct mxk_smtpc *);
const char		*mxk_smtpc_evtype_name(enum mxk_smtpc_evtype);

#endif

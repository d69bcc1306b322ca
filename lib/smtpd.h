/* ISC license. */

/*
 * smtpd: the SMTP (and LMTP) server protocol engine, with no I/O inside.
 *
 * The caller owns the connection.  It feeds the octets it read with
 * mxk_smtpd_feed(), writes out what mxk_smtpd_output() holds, and acts on
 * the result: CONTINUE (read more), STARTTLS (write the output, do the TLS
 * handshake, call mxk_smtpd_tls_done()), CLOSE (write the output, close).
 * Decisions the engine cannot make itself go to hooks the caller gives:
 * MAIL and RCPT policy, the message's octets, the end of the message (the
 * caller stores it durably, then says what to reply), AUTH credentials.
 * Hooks are called synchronously from mxk_smtpd_feed().
 *
 * A RCPT decision may also come later (a DNS list, a policy program): the
 * rcpt hook says PENDING, mxk_smtpd_feed() keeps what it was given beyond
 * that command and returns PAUSE, and mxk_smtpd_resume() later gives the
 * decision and goes on with what was kept.  The caller reads nothing more
 * from the client meanwhile (what it feeds is kept too, up to a limit).
 *
 * The replies to a message may come later too: the data_end hook calls
 * mxk_smtpd_defer() (the store is making it durable elsewhere, a thread),
 * the engine holds the input after the message as above, and
 * mxk_smtpd_resume_message() gives the replies; the transaction's facts
 * (mxk_smtpd_from()...) stay until then.
 *
 * For fault injection, the command hook sees every command before it is
 * carried out and may answer it instead (any 4xx or 5xx reply) or drop
 * the connection without a reply (mxk_smtpd_drop()).  A 421 reply from any
 * hook closes the session after it is sent (RFC 5321 §3.8).  The greeting
 * itself may be a refusal (mxk_smtpd_greet_refuse()).
 *
 * Commands are dispatched from a table { name, check, proceed }, as in
 * OpenSMTPD and qmail-smtpd.  Replies are appended to the output in order,
 * so a pipelined group (RFC 2920) read in one go is answered in one write.
 *
 * Hostile input, and what the engine does with it:
 *   - a command line longer than params.max_line (with CRLF; RFC 5321
 *     §4.5.3.1.4 says 512, 2048 is the default tolerance): 500 5.5.2,
 *     the rest of the line is skipped, never buffered;
 *   - a NUL octet in a command: 500 5.5.2;
 *   - params.max_errors bad commands: 421 4.7.0 and close;
 *   - input before the greeting (an early talker; only when the caller
 *     delays the greeting): 554 5.5.1 and close;
 *   - input pipelined after STARTTLS: discarded before the handshake, so
 *     that it is never taken as TLS-protected (RFC 3207 §6,
 *     CVE-2011-0411);
 *   - input pipelined after a DATA that is refused: 421 and close, since
 *     the message's lines would otherwise be read as commands;
 *   - in DATA: the end is only CR LF "." CR LF; a line "." ended by a bare
 *     LF or CR is data (no SMTP smuggling); bare LF becomes CR LF, or the
 *     message is refused (554 5.6.0) with params.strict; a line over 998
 *     octets refuses the message (554 5.6.0); more than params.max_size
 *     octets refuse it (552 5.3.4); the octets are passed on unstuffed
 *     (RFC 5321 §4.5.2), never held whole.
 *
 * The engine is not thread-safe; one per session.
 */
#ifndef MXK_SMTPD_H
#define MXK_SMTPD_H

#include <stddef.h>

#define MXK_SMTPD_CONTINUE	0
#define MXK_SMTPD_STARTTLS	1
#define MXK_SMTPD_CLOSE		2
#define MXK_SMTPD_PAUSE		3	/* waiting for mxk_smtpd_resume() */

/* What the rcpt hook may return besides 0 (accept) and -1 (refused). */
#define MXK_SMTPD_PENDING	1
#define MXK_SMTPD_AUTH_PENDING	2	/* from the auth hook */
#define MXK_SMTPD_AUTH_LIMITED	(-2)	/* the same: too many failures */

#define MXK_SMTPD_TEXTMAX	256

struct mxk_smtpd;

struct mxk_smtpd_params {
	const char		*hostname;	/* greeting and EHLO name */
	size_t			 max_line;	/* command line; 0: 2048 */
	unsigned long long	 max_size;	/* message; 0: 30 MiB */
	size_t			 max_rcpt;	/* 0: 100 */
	int			 max_errors;	/* 0: 10 */
	int			 lmtp;		/* LHLO, one reply per RCPT */
	int			 starttls;	/* offer STARTTLS */
	int			 auth;		/* offer AUTH PLAIN LOGIN */
	int			 auth_plaintext; /* also without TLS */
	int			 require_tls;	/* MAIL only after STARTTLS */
	int			 require_auth;	/* MAIL only after AUTH */
	int			 no_chunking;
	int			 no_smtputf8;
	int			 no_dsn;
	int			 no_pipelining;
	int			 strict;	/* refuse bare LF in DATA */
};

struct mxk_smtpd_reply {
	int	 code;
	char	 status[16];
	char	 text[MXK_SMTPD_TEXTMAX];
};

/* What MAIL and RCPT carried (DSN, RFC 3461; BODY, SMTPUTF8). */
struct mxk_smtpd_rcpt {
	char	*addr;
	char	*notify;	/* NULL when absent */
	char	*orcpt;
};

struct mxk_smtpd_hooks {
	void	*arg;
	/*
	 * Each command line, before anything else is done with it: verb is
	 * its name in upper case ("EHLO", "MAIL", "BDAT", "LHLO"...; not
	 * for unknown commands, AUTH responses or message lines), arg what
	 * follows it.  Return 0 to carry it out, or fill r (4xx or 5xx) and
	 * return -1 to answer r instead: the command has no other effect (a
	 * refused DATA or BDAT as when the store refuses it: a BDAT chunk is
	 * read and dropped).  May call mxk_smtpd_drop().  May be NULL.
	 */
	int	(*command)(void *, struct mxk_smtpd *, const char *verb,
		    const char *arg, struct mxk_smtpd_reply *r);
	/* Return 0 to accept, or fill r (4xx/5xx) and return -1. */
	int	(*mail)(void *, struct mxk_smtpd *, const char *from,
		    struct mxk_smtpd_reply *r);
	/* As mail, or MXK_SMTPD_PENDING: mxk_smtpd_resume() decides. */
	int	(*rcpt)(void *, struct mxk_smtpd *, const char *to,
		    struct mxk_smtpd_reply *r);
	/* A message begins (DATA accepted, or the first BDAT): 0, or -1
	 * with r (the store could not start). */
	int	(*data_begin)(void *, struct mxk_smtpd *,
		    struct mxk_smtpd_reply *r);
	void	(*data)(void *, struct mxk_smtpd *, const char *, size_t);
	/*
	 * The message is complete: make it durable, then fill r with one
	 * reply (LMTP: one per accepted recipient, n of them).  bad is set
	 * when the engine already refuses it (too big, a long line, bare
	 * LF under strict): the hook must drop what it stored; r[] holds
	 * that refusal and is sent whatever the hook does.
	 */
	void	(*data_end)(void *, struct mxk_smtpd *, int bad,
		    struct mxk_smtpd_reply *r, size_t n);
	/* The message was abandoned (RSET, QUIT, close mid-DATA). */
	void	(*data_abort)(void *, struct mxk_smtpd *);
	/* 1 accepted, 0 refused, -1 temporary failure,
	 * MXK_SMTPD_AUTH_LIMITED (too many failures of late: 454 4.7.0,
	 * and the credentials were not looked at), or
	 * MXK_SMTPD_AUTH_PENDING: mxk_smtpd_auth_done() decides. */
	int	(*auth)(void *, struct mxk_smtpd *, const char *user,
		    const char *pass);
	/* Every protocol line, for the transcript (may be NULL). */
	void	(*trace)(void *, int from_client, const char *, size_t);
};

struct mxk_smtpd	*mxk_smtpd_new(const struct mxk_smtpd_params *,
			    const struct mxk_smtpd_hooks *);
void			 mxk_smtpd_free(struct mxk_smtpd *);

/* Queue the 220 greeting. */
void	 mxk_smtpd_greet(struct mxk_smtpd *);
/*
 * Greet with a refusal instead (r: 421 or 5xx, else 554 5.3.2).  421
 * closes (MXK_SMTPD_CLOSE).  After a 5xx the engine waits for QUIT and
 * answers every other command 503 5.5.1 (RFC 5321 §3.1); CONTINUE.
 */
int	 mxk_smtpd_greet_refuse(struct mxk_smtpd *,
	    const struct mxk_smtpd_reply *r);
/* Feed input; returns MXK_SMTPD_CONTINUE, _STARTTLS, _CLOSE or _PAUSE. */
int	 mxk_smtpd_feed(struct mxk_smtpd *, const char *, size_t);
/*
 * The decision on the RCPT that was PENDING: r NULL accepts it, else r is
 * the reply.  Then the input kept since is read; returns as feed() does.
 * Without a pending RCPT, nothing happens (CONTINUE, or CLOSE).
 */
int	 mxk_smtpd_resume(struct mxk_smtpd *, const struct mxk_smtpd_reply *r);
/*
 * From the data_end hook (not for a bad message): its r[] is not sent;
 * the replies come from mxk_smtpd_resume_message() (n of them; missing
 * ones are 451 4.3.0), which then reads the input kept since and returns
 * as feed() does.  mxk_smtpd_in_data() stays true meanwhile.  A timeout
 * or shutdown meanwhile drops the transaction.
 */
void	 mxk_smtpd_defer(struct mxk_smtpd *);
int	 mxk_smtpd_resume_message(struct mxk_smtpd *,
	    const struct mxk_smtpd_reply *r, size_t n);
/*
 * The decision on the AUTH that was PENDING (1, 0 or -1 as the hook
 * returns), then the input kept since is read; returns as feed() does.
 * Without a pending AUTH, nothing happens (CONTINUE, or CLOSE).
 */
int	 mxk_smtpd_auth_done(struct mxk_smtpd *, int ok);
int	 mxk_smtpd_paused(const struct mxk_smtpd *);
/* Octets of input kept behind a pause, not looked at yet. */
size_t	 mxk_smtpd_held(const struct mxk_smtpd *);
/*
 * From a hook: close the session without replying to the command in
 * hand (fault injection); replies queued before stay queued.  Nothing is
 * added to the output after this, and feed() returns CLOSE.
 */
void	 mxk_smtpd_drop(struct mxk_smtpd *);
/* The output to write; consume what was written. */
const char	*mxk_smtpd_output(const struct mxk_smtpd *, size_t *len);
void		 mxk_smtpd_consume(struct mxk_smtpd *, size_t);
/* TLS is up: the session starts over (RFC 3207 §4.2). */
void	 mxk_smtpd_tls_done(struct mxk_smtpd *, const char *desc);
/* The caller's deadlines: 421 4.4.2 (idle) or 421 4.3.2 (shutdown). */
int	 mxk_smtpd_timeout(struct mxk_smtpd *);
int	 mxk_smtpd_shutdown(struct mxk_smtpd *);
/* The message in progress is complete: no more octets are pending. */
int	 mxk_smtpd_in_data(const struct mxk_smtpd *);

/* Session facts, for hooks and logs. */
const char	*mxk_smtpd_helo(const struct mxk_smtpd *);
int		 mxk_smtpd_esmtp(const struct mxk_smtpd *);
const char	*mxk_smtpd_tls(const struct mxk_smtpd *);	/* NULL: none */
const char	*mxk_smtpd_auth_user(const struct mxk_smtpd *);
const char	*mxk_smtpd_from(const struct mxk_smtpd *);
size_t		 mxk_smtpd_nrcpt(const struct mxk_smtpd *);
const struct mxk_smtpd_rcpt *mxk_smtpd_rcpt(const struct mxk_smtpd *, size_t);
const char	*mxk_smtpd_body(const struct mxk_smtpd *);	/* "7BIT"... */
int		 mxk_smtpd_smtputf8(const struct mxk_smtpd *);
const char	*mxk_smtpd_dsn_ret(const struct mxk_smtpd *);
const char	*mxk_smtpd_dsn_envid(const struct mxk_smtpd *);
unsigned long long mxk_smtpd_msg_size(const struct mxk_smtpd *);
const char	*mxk_smtpd_state_name(const struct mxk_smtpd *);
unsigned long	 mxk_smtpd_nmessages(const struct mxk_smtpd *);
int		 mxk_smtpd_bdat(const struct mxk_smtpd *);	/* via BDAT */

#endif

/* ISC license. */

/*
 * spool: messages a client could not deliver yet, kept in a directory for
 * a later retry (smtpsend --spool, --flush).
 *
 * Layout, Maildir style: DIR/tmp/ and DIR/new/, made with mode 0700.  An
 * entry is one file, written in tmp/ (mkstemp, mode 0600), fsync'ed,
 * renamed into new/, and new/ is fsync'ed: a crash leaves either the whole
 * entry or none of it, never a torn one.  An update writes a new file and
 * renames it over the old name, the same way.
 *
 * An entry is text lines, then an empty line, then the message (CRLF
 * lines, as lib/msg produced it):
 *     mxkit-spool 1
 *     from ADDRESS              (empty for the null sender)
 *     rcpt ADDRESS              (one or more)
 *     first UNIXTIME            (when it was first spooled)
 *     attempts N
 *     next UNIXTIME             (not retried before)
 *     error TEXT                (the last temporary failure)
 * The header is bounded (64 KiB, MXK_SPOOL_MAXRCPT recipients); a file that
 * is not such an entry is refused with MXK_ERR_DATA and left alone.
 *
 * While an entry is open it is locked (flock LOCK_EX | LOCK_NB), so that
 * two flushes running at once (cron overlapping itself) never send it
 * twice: mxk_spool_open() returns 1 for an entry another process holds.
 */
#ifndef MXK_SPOOL_H
#define MXK_SPOOL_H

#include <stddef.h>

#include "err.h"
#include "msg.h"

#define MXK_SPOOL_MAXRCPT	10000
#define MXK_SPOOL_NAMEMAX	128

struct mxk_spool_entry {
	char		 name[MXK_SPOOL_NAMEMAX];	/* in DIR/new/ */
	char		 from[1024];
	char		**rcpt;
	size_t		 nrcpt;
	long long	 first, next;
	int		 attempts;
	char		 error[512];
	int		 fd;		/* locked; at the message */
};

/* The envelope and state to write. */
struct mxk_spool_meta {
	const char		*from;
	const char *const	*rcpt;
	size_t			 nrcpt;
	long long		 first, next;
	int			 attempts;
	const char		*error;
};

/*
 * Write an entry for msg (from its first octet); name NULL makes a new
 * unique name (returned in namebuf), else the entry called name is
 * replaced.  0 or -1 (MXK_ERR_IO, MXK_ERR_CONFIG for a bad directory).
 */
int	 mxk_spool_put(const char *dir, const char *name,
	    const struct mxk_spool_meta *, struct mxk_msg *, char *namebuf,
	    size_t namelen, struct mxk_err *);

/* The names in DIR/new/, sorted (oldest first by name); free with
 * mxk_spool_names_free(). */
int	 mxk_spool_list(const char *dir, char ***names, size_t *n,
	    struct mxk_err *);
void	 mxk_spool_names_free(char **, size_t);

/* Open and lock an entry and read its header: 0, 1 (locked by another
 * process, or gone), -1 (error; MXK_ERR_DATA for a malformed entry). */
int	 mxk_spool_open(const char *dir, const char *name,
	    struct mxk_spool_entry *, struct mxk_err *);
/* The message of an open entry, as a struct mxk_msg. */
int	 mxk_spool_message(struct mxk_spool_entry *, struct mxk_msg **,
	    struct mxk_err *);
/* Remove an open entry (delivered or bounced for good). */
int	 mxk_spool_remove(const char *dir, struct mxk_spool_entry *,
	    struct mxk_err *);
void	 mxk_spool_close(struct mxk_spool_entry *);

/* Retry delay after attempt n (1-based): 5 min doubling, at most 4 h. */
long long mxk_spool_backoff(int attempts);

#endif

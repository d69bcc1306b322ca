/* ISC license. */

/*
 * passwd: the users smtpd-lite accepts for AUTH, from a file of lines
 * "user:crypt-hash" (the hashes of crypt(3): yescrypt "$y$", SHA-512
 * "$6$", bcrypt "$2b$" ...; make them with mkpasswd(1)).  '#' starts a
 * comment line; blank lines are skipped.  A line that is not "user:hash"
 * makes the load fail with the line number (MXK_ERR_CONFIG), so that a
 * typo never silently locks everybody out or lets anybody in.
 *
 * mxk_passwd_check() hashes the password with the user's stored setting
 * (crypt_r, thread-safe) and compares in constant time.  An unknown user
 * costs the same hashing (against a dummy hash of the same method as the
 * file's first entry), so that response times do not reveal who exists.
 * The file is read once; reload by loading again (SIGHUP).
 */
#ifndef MXK_PASSWD_H
#define MXK_PASSWD_H

#include "err.h"

struct mxk_passwd;

#define MXK_PASSWD_HASHMAX	1024	/* a hash and its NUL fit */

int	 mxk_passwd_load(const char *path, struct mxk_passwd **,
	    struct mxk_err *);
/* The same from len octets at p (the file's content; name for errors). */
int	 mxk_passwd_load_mem(const char *name, const void *p, size_t len,
	    struct mxk_passwd **, struct mxk_err *);
void	 mxk_passwd_free(struct mxk_passwd *);
size_t	 mxk_passwd_count(const struct mxk_passwd *);
/* 1 accepted, 0 refused. */
int	 mxk_passwd_check(const struct mxk_passwd *, const char *user,
	    const char *pass);
/*
 * The same in two steps, for hashing on another thread while the table
 * may be reloaded: lookup copies the setting to hash with (the user's
 * hash, or for an unknown user the first entry's, *known 0) into hash;
 * -1 when there is no entry or it does not fit.  verify hashes and
 * compares (never 1 unless known).
 */
int	 mxk_passwd_lookup(const struct mxk_passwd *, const char *user,
	    char *hash, size_t len, int *known);
int	 mxk_passwd_verify(const char *hash, int known, const char *pass);

#endif

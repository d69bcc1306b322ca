/* ISC license. */

#include <crypt.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "passwd.h"

#define LINEMAX		1024
#define USERSMAX	100000

struct entry {
	char	*user;
	char	*hash;
};

struct mxk_passwd {
	struct entry	*v;
	size_t		 n;
};

/* Parse f (named path in errors), which is closed. */
static int
load_file(FILE *f, const char *path, struct mxk_passwd **out,
    struct mxk_err *e)
{
	struct mxk_passwd	*pw;
	struct entry		*nv;
	char			 line[LINEMAX + 2], *colon;
	char			 iobuf[4096];
	size_t			 cap = 0, n, lineno = 0;

	/* stdio's copy of the file in a buffer of ours, wiped at the end. */
	if (setvbuf(f, iobuf, _IOFBF, sizeof(iobuf)) != 0)
		(void)setvbuf(f, NULL, _IONBF, 0);
	if ((pw = calloc(1, sizeof(*pw))) == NULL) {
		(void)fclose(f);
		explicit_bzero(iobuf, sizeof(iobuf));
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		n = strlen(line);
		if (n > 0 && line[n - 1] != '\n' && !feof(f)) {
			(void)mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_LOCAL,
			    NULL, "%s:%zu: line too long", path, lineno);
			goto fail;
		}
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if ((colon = strchr(line, ':')) == NULL || colon == line ||
		    colon[1] == '\0' || strchr(colon + 1, ':') != NULL) {
			(void)mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_LOCAL,
			    NULL, "%s:%zu: not \"user:crypt-hash\"", path,
			    lineno);
			goto fail;
		}
		*colon = '\0';
		if (pw->n >= USERSMAX) {
			(void)mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_LOCAL,
			    NULL, "%s: more than %d users", path, USERSMAX);
			goto fail;
		}
		if (pw->n == cap) {
			cap = cap > 0 ? 2 * cap : 16;
			if ((nv = realloc(pw->v, cap * sizeof(*nv))) == NULL)
				goto nomem;
			pw->v = nv;
		}
		if ((pw->v[pw->n].user = strdup(line)) == NULL ||
		    (pw->v[pw->n].hash = strdup(colon + 1)) == NULL) {
			free(pw->v[pw->n].user);
			goto nomem;
		}
		pw->n++;
	}
	if (ferror(f)) {
		(void)mxk_err_sys(e, MXK_ERR_CONFIG, "%s", path);
		goto fail;
	}
	(void)fclose(f);
	explicit_bzero(line, sizeof(line));
	explicit_bzero(iobuf, sizeof(iobuf));
	*out = pw;
	return 0;
nomem:
	(void)mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
	    "out of memory");
fail:
	(void)fclose(f);
	explicit_bzero(line, sizeof(line));
	explicit_bzero(iobuf, sizeof(iobuf));
	mxk_passwd_free(pw);
	return -1;
}

int
mxk_passwd_load(const char *path, struct mxk_passwd **out, struct mxk_err *e)
{
	FILE	*f;

	*out = NULL;
	if ((f = fopen(path, "r")) == NULL)
		return mxk_err_sys(e, MXK_ERR_CONFIG, "%s", path);
	return load_file(f, path, out, e);
}

int
mxk_passwd_load_mem(const char *name, const void *p, size_t len,
    struct mxk_passwd **out, struct mxk_err *e)
{
	FILE	*f;

	*out = NULL;
	/* fmemopen() refuses 0 octets: an empty file is /dev/null's. */
	f = len == 0 ? fopen("/dev/null", "re") :
	    fmemopen((void *)(uintptr_t)p, len, "r");
	if (f == NULL)
		return mxk_err_sys(e, MXK_ERR_INTERNAL, "%s", name);
	return load_file(f, name, out, e);
}

void
mxk_passwd_free(struct mxk_passwd *pw)
{
	size_t	i;

	if (pw == NULL)
		return;
	for (i = 0; i < pw->n; i++) {
		free(pw->v[i].user);
		explicit_bzero(pw->v[i].hash, strlen(pw->v[i].hash));
		free(pw->v[i].hash);
	}
	free(pw->v);
	free(pw);
}

size_t
mxk_passwd_count(const struct mxk_passwd *pw)
{
	return pw != NULL ? pw->n : 0;
}

/* Constant time over the longer of the two. */
static int
same(const char *a, const char *b)
{
	size_t		la = strlen(a), lb = strlen(b), n = la > lb ? la : lb, i;
	unsigned char	d = la != lb;

	for (i = 0; i < n; i++)
		d |= (unsigned char)((i < la ? a[i] : 0) ^ (i < lb ? b[i] : 0));
	return d == 0;
}

int
mxk_passwd_lookup(const struct mxk_passwd *pw, const char *user, char *hash,
    size_t len, int *known)
{
	const char	*h = NULL;
	size_t		 i;

	*known = 0;
	if (pw == NULL || pw->n == 0)
		return -1;
	for (i = 0; i < pw->n; i++)
		if (strcmp(pw->v[i].user, user) == 0) {
			h = pw->v[i].hash;
			*known = 1;
			break;
		}
	/* An unknown user is hashed against the first entry's setting. */
	if (h == NULL)
		h = pw->v[0].hash;
	if (strlen(h) >= len)
		return -1;
	(void)memcpy(hash, h, strlen(h) + 1);
	return 0;
}

int
mxk_passwd_verify(const char *hash, int known, const char *pass)
{
	struct crypt_data	*cd;
	const char		*h;
	int			 ok = 0;

	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return 0;
	h = crypt_r(pass, hash, cd);
	if (h != NULL && h[0] != '*' && known)
		ok = same(h, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

int
mxk_passwd_check(const struct mxk_passwd *pw, const char *user,
    const char *pass)
{
	char	hash[MXK_PASSWD_HASHMAX];
	int	known, ok;

	if (mxk_passwd_lookup(pw, user, hash, sizeof(hash), &known) == -1)
		return 0;
	ok = mxk_passwd_verify(hash, known, pass);
	explicit_bzero(hash, sizeof(hash));
	return ok;
}

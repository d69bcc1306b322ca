/* ISC license. */

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "msg.h"
#include "net.h"
#include "spool.h"

#define HEADERMAX	(64 * 1024)

static int
mkdir_private(const char *path, struct mxk_err *e)
{
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return mxk_err_sys(e, MXK_ERR_CONFIG, "cannot make %s", path);
	return 0;
}

static int
fsync_dir(const char *path, struct mxk_err *e)
{
	int	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1)
		return mxk_err_sys(e, MXK_ERR_IO, "%s", path);
	if (fsync(fd) == -1) {
		(void)mxk_err_sys(e, MXK_ERR_IO, "fsync %s", path);
		(void)close(fd);
		return -1;
	}
	(void)close(fd);
	return 0;
}

static int
write_all(int fd, const char *p, size_t len, struct mxk_err *e)
{
	if (mxk_net_write_full(fd, p, len) == -1)
		return mxk_err_sys(e, MXK_ERR_IO, "spool write");
	return 0;
}

/* A value may not hold CR or LF: it would forge header lines. */
static int
clean(const char *s)
{
	return s == NULL || strpbrk(s, "\r\n") == NULL;
}

int
mxk_spool_put(const char *dir, const char *name,
    const struct mxk_spool_meta *m, struct mxk_msg *msg, char *namebuf,
    size_t namelen, struct mxk_err *e)
{
	char		 tmp[PATH_MAX], dst[PATH_MAX], sub[PATH_MAX];
	char		 nm[MXK_SPOOL_NAMEMAX], chunk[64 * 1024];
	struct mxk_buf	 h;
	struct timespec	 ts;
	size_t		 i;
	ssize_t		 n;
	int		 fd, r = 0;

	if (!clean(m->from) || !clean(m->error))
		return mxk_err_set(e, MXK_ERR_DATA, MXK_SRC_LOCAL, NULL,
		    "spool: CR or LF in the envelope");
	for (i = 0; i < m->nrcpt; i++)
		if (!clean(m->rcpt[i]))
			return mxk_err_set(e, MXK_ERR_DATA, MXK_SRC_LOCAL,
			    NULL, "spool: CR or LF in a recipient");
	if (mkdir_private(dir, e) == -1)
		return -1;
	(void)snprintf(sub, sizeof(sub), "%s/tmp", dir);
	if (mkdir_private(sub, e) == -1)
		return -1;
	(void)snprintf(sub, sizeof(sub), "%s/new", dir);
	if (mkdir_private(sub, e) == -1)
		return -1;
	if (name != NULL)
		(void)snprintf(nm, sizeof(nm), "%s", name);
	else {
		(void)clock_gettime(CLOCK_REALTIME, &ts);
		(void)snprintf(nm, sizeof(nm), "%lld.%09ld.%d",
		    (long long)ts.tv_sec, ts.tv_nsec, (int)getpid());
	}
	if (strchr(nm, '/') != NULL || nm[0] == '.')
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "spool: bad entry name");
	if (snprintf(tmp, sizeof(tmp), "%s/tmp/%s.XXXXXX", dir, nm) >=
	    (int)sizeof(tmp) || snprintf(dst, sizeof(dst), "%s/new/%s", dir,
	    nm) >= (int)sizeof(dst))
		return mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_LOCAL, NULL,
		    "spool: path too long");

	mxk_buf_init(&h, HEADERMAX);
	r |= mxk_buf_printf(&h, "mxkit-spool 1\nfrom %s\n",
	    m->from != NULL ? m->from : "");
	for (i = 0; i < m->nrcpt; i++)
		r |= mxk_buf_printf(&h, "rcpt %s\n", m->rcpt[i]);
	r |= mxk_buf_printf(&h, "first %lld\nattempts %d\nnext %lld\n"
	    "error %s\n\n", m->first, m->attempts, m->next,
	    m->error != NULL ? m->error : "");
	if (r != 0) {
		mxk_buf_free(&h);
		return mxk_err_set(e, MXK_ERR_DATA, MXK_SRC_LOCAL, NULL,
		    "spool: envelope too large");
	}
	if ((fd = mkstemp(tmp)) == -1) {
		mxk_buf_free(&h);
		return mxk_err_sys(e, MXK_ERR_IO, "spool: %s", tmp);
	}
	(void)fchmod(fd, 0600);
	if (write_all(fd, h.p, h.len, e) == -1 ||
	    mxk_msg_rewind(msg, e) == -1)
		goto fail;
	while ((n = mxk_msg_read_chunk(msg, chunk, sizeof(chunk), e)) > 0)
		if (write_all(fd, chunk, (size_t)n, e) == -1)
			goto fail;
	if (n < 0)
		goto fail;
	if (fsync(fd) == -1) {
		(void)mxk_err_sys(e, MXK_ERR_IO, "spool: fsync");
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		(void)mxk_err_sys(e, MXK_ERR_IO, "spool: close");
		goto fail;
	}
	fd = -1;
	if (rename(tmp, dst) == -1) {
		(void)mxk_err_sys(e, MXK_ERR_IO, "spool: rename to %s", dst);
		goto fail;
	}
	mxk_buf_free(&h);
	if (fsync_dir(sub, e) == -1)
		return -1;
	if (namebuf != NULL)
		(void)snprintf(namebuf, namelen, "%s", nm);
	return 0;
fail:
	if (fd != -1)
		(void)close(fd);
	(void)unlink(tmp);
	mxk_buf_free(&h);
	return -1;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
mxk_spool_list(const char *dir, char ***names, size_t *n, struct mxk_err *e)
{
	char		 path[PATH_MAX], **v = NULL, **nv;
	size_t		 cap = 0;
	DIR		*d;
	struct dirent	*de;

	*names = NULL;
	*n = 0;
	(void)snprintf(path, sizeof(path), "%s/new", dir);
	if ((d = opendir(path)) == NULL) {
		if (errno == ENOENT)
			return 0;
		return mxk_err_sys(e, MXK_ERR_IO, "%s", path);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    strlen(de->d_name) >= MXK_SPOOL_NAMEMAX)
			continue;
		if (*n == cap) {
			cap = cap > 0 ? 2 * cap : 64;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL)
				goto nomem;
			v = nv;
		}
		if ((v[*n] = strdup(de->d_name)) == NULL)
			goto nomem;
		(*n)++;
	}
	(void)closedir(d);
	if (*n > 0)
		qsort(v, *n, sizeof(*v), cmp_names);
	*names = v;
	return 0;
nomem:
	(void)closedir(d);
	mxk_spool_names_free(v, *n);
	*n = 0;
	return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
	    "out of memory");
}

void
mxk_spool_names_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
num(const char *s, long long *out)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		return -1;
	*out = v;
	return 0;
}

int
mxk_spool_open(const char *dir, const char *name, struct mxk_spool_entry *en,
    struct mxk_err *e)
{
	char		 path[PATH_MAX], *hdr, *line, *nl, *body;
	size_t		 len = 0, cap;
	ssize_t		 got;
	long long	 v;
	int		 seen_magic = 0;

	memset(en, 0, sizeof(*en));
	en->fd = -1;
	if (strchr(name, '/') != NULL || strlen(name) >= sizeof(en->name))
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "spool: bad entry name");
	(void)snprintf(en->name, sizeof(en->name), "%s", name);
	(void)snprintf(path, sizeof(path), "%s/new/%s", dir, name);
	if ((en->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno == ENOENT)
			return 1;
		return mxk_err_sys(e, MXK_ERR_IO, "%s", path);
	}
	if (flock(en->fd, LOCK_EX | LOCK_NB) == -1) {
		(void)close(en->fd);
		en->fd = -1;
		return 1;
	}
	/* The header: up to the empty line, within HEADERMAX. */
	cap = HEADERMAX;
	if ((hdr = malloc(cap + 1)) == NULL) {
		mxk_spool_close(en);
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	}
	while (len < cap && (got = read(en->fd, hdr + len, cap - len)) > 0)
		len += (size_t)got;
	hdr[len] = '\0';
	if ((body = memmem(hdr, len, "\n\n", 2)) == NULL) {
		free(hdr);
		mxk_spool_close(en);
		return mxk_err_set(e, MXK_ERR_DATA, MXK_SRC_LOCAL, NULL,
		    "spool entry %s: no end of header", name);
	}
	body[1] = '\0';
	if (lseek(en->fd, (off_t)(body + 2 - hdr), SEEK_SET) == -1) {
		free(hdr);
		mxk_spool_close(en);
		return mxk_err_sys(e, MXK_ERR_IO, "%s", path);
	}
	for (line = hdr; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		*nl = '\0';
		if (strcmp(line, "mxkit-spool 1") == 0)
			seen_magic = 1;
		else if (strncmp(line, "from ", 5) == 0)
			(void)snprintf(en->from, sizeof(en->from), "%s",
			    line + 5);
		else if (strncmp(line, "rcpt ", 5) == 0) {
			char **nv;

			if (en->nrcpt >= MXK_SPOOL_MAXRCPT)
				goto bad;
			if ((nv = realloc(en->rcpt, (en->nrcpt + 1) *
			    sizeof(*nv))) == NULL)
				goto bad;
			en->rcpt = nv;
			if ((en->rcpt[en->nrcpt] = strdup(line + 5)) == NULL)
				goto bad;
			en->nrcpt++;
		} else if (strncmp(line, "first ", 6) == 0) {
			if (num(line + 6, &en->first) == -1)
				goto bad;
		} else if (strncmp(line, "next ", 5) == 0) {
			if (num(line + 5, &en->next) == -1)
				goto bad;
		} else if (strncmp(line, "attempts ", 9) == 0) {
			if (num(line + 9, &v) == -1 || v > INT_MAX)
				goto bad;
			en->attempts = (int)v;
		} else if (strncmp(line, "error ", 6) == 0)
			(void)snprintf(en->error, sizeof(en->error), "%s",
			    line + 6);
		else if (strcmp(line, "error") == 0)
			en->error[0] = '\0';
	}
	free(hdr);
	if (!seen_magic || en->nrcpt == 0) {
		mxk_spool_close(en);
		return mxk_err_set(e, MXK_ERR_DATA, MXK_SRC_LOCAL, NULL,
		    "spool entry %s: not an mxkit spool entry", name);
	}
	return 0;
bad:
	free(hdr);
	mxk_spool_close(en);
	return mxk_err_set(e, MXK_ERR_DATA, MXK_SRC_LOCAL, NULL,
	    "spool entry %s: malformed header", name);
}

int
mxk_spool_message(struct mxk_spool_entry *en, struct mxk_msg **out,
    struct mxk_err *e)
{
	struct mxk_msg_params	p;

	memset(&p, 0, sizeof(p));
	return mxk_msg_read(en->fd, &p, out, e);
}

int
mxk_spool_remove(const char *dir, struct mxk_spool_entry *en,
    struct mxk_err *e)
{
	char	path[PATH_MAX], sub[PATH_MAX];

	(void)snprintf(path, sizeof(path), "%s/new/%s", dir, en->name);
	(void)snprintf(sub, sizeof(sub), "%s/new", dir);
	if (unlink(path) == -1 && errno != ENOENT)
		return mxk_err_sys(e, MXK_ERR_IO, "%s", path);
	return fsync_dir(sub, e);
}

void
mxk_spool_close(struct mxk_spool_entry *en)
{
	size_t	i;

	if (en->fd != -1)
		(void)close(en->fd);
	en->fd = -1;
	for (i = 0; i < en->nrcpt; i++)
		free(en->rcpt[i]);
	free(en->rcpt);
	en->rcpt = NULL;
	en->nrcpt = 0;
}

long long
mxk_spool_backoff(int attempts)
{
	long long	d = 300;
	int		i;

	for (i = 1; i < attempts && d < 4 * 3600; i++)
		d *= 2;
	return d < 4 * 3600 ? d : 4 * 3600;
}

/* ISC license. */

#include <sys/types.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "store.h"
#include "t.h"

#define MAXNAMES	16
#define FOLDERLEN	256	/* test folders (dir is short) */
#define FILELEN		1024

static char	 dir[] = "/tmp/mxkit-test-store.XXXXXX";
static char	 big[256 * 1024];
static size_t	 biglen;

static const char	 small[] = "Received: from client.test\r\n"
			    "Subject: hi\r\n\r\nbody\r\n..dot\r\n\0nul\r\n";
#define SMALLLEN	(sizeof(small) - 1)

/* The names in path (no dot files) into names; their count, -1 if none. */
static int
names_in(const char *path, char names[][256], int max)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n < max && names != NULL)
			(void)snprintf(names[n], 256, "%s", de->d_name);
		n++;
	}
	(void)closedir(d);
	return n;
}

static int
count(const char *folder, const char *sub)
{
	char	path[512];

	(void)snprintf(path, sizeof(path), "%s/%s", folder, sub);
	return names_in(path, NULL, 0);
}

/* Whether the file holds exactly data. */
static int
same(const char *path, const char *data, size_t len)
{
	char	*b;
	ssize_t	 n;
	int	 fd, ok;

	if ((fd = open(path, O_RDONLY)) == -1)
		return 0;
	if ((b = malloc(len + 2)) == NULL) {
		(void)close(fd);
		return 0;
	}
	n = read(fd, b, len + 1);
	(void)close(fd);
	ok = n == (ssize_t)len && memcmp(b, data, len) == 0;
	free(b);
	return ok;
}

/* The only file in folder/new/, into path; 0 or -1. */
static int
only_file(const char *folder, char *path, size_t len)
{
	char	names[MAXNAMES][256], sub[512];

	(void)snprintf(sub, sizeof(sub), "%s/new", folder);
	if (names_in(sub, names, MAXNAMES) != 1)
		return -1;
	(void)snprintf(path, len, "%s/%s", sub, names[0]);
	return 0;
}

/* TIME.PID_COUNTER.HOST */
static int
name_ok(const char *name, const char *host)
{
	char	pid[32];
	size_t	i = 0;

	while (name[i] >= '0' && name[i] <= '9')
		i++;
	if (i == 0 || name[i++] != '.')
		return 0;
	(void)snprintf(pid, sizeof(pid), "%ld_", (long)getpid());
	if (strncmp(name + i, pid, strlen(pid)) != 0)
		return 0;
	i += strlen(pid);
	if (!(name[i] >= '0' && name[i] <= '9'))
		return 0;
	while (name[i] >= '0' && name[i] <= '9')
		i++;
	return name[i] == '.' && strcmp(name + i + 1, host) == 0;
}

static void
env_init(struct mxk_store_env *env, const char *const *rcpt, size_t n)
{
	memset(env, 0, sizeof(*env));
	env->sender = "sender@x.test";
	env->rcpt = rcpt;
	env->nrcpt = n;
	env->client_ip = "192.0.2.1";
	env->helo = "client.test";
	env->queue_id = "QID1";
}

/* Begin, write data in chunks of chunk octets, end.  -2: begin failed. */
static int
deliver(const struct mxk_store_params *p, const struct mxk_store_env *env,
    const char *data, size_t len, size_t chunk, struct mxk_store_result *res,
    struct mxk_err *e)
{
	struct mxk_store_msg	*m;
	size_t			 off, n;
	int			 bad = 0;

	if (mxk_store_begin(p, env, &m, e) == -1)
		return -2;
	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		if (mxk_store_write(m, data + off, n, e) != 0)
			bad = 1;
	}
	T_OK(!bad, "every write returned 0");
	T_EQ_INT(mxk_store_bytes(m), len, "bytes counted");
	return mxk_store_end(m, res, e);
}

static void
res_is(const struct mxk_store_result *r, int code, const char *status,
    const char *text, const char *name)
{
	char	n[128];

	(void)snprintf(n, sizeof(n), "%s code", name);
	T_EQ_INT(r->code, code, n);
	(void)snprintf(n, sizeof(n), "%s status", name);
	T_EQ_STR(r->status, status, n);
	if (text != NULL) {
		(void)snprintf(n, sizeof(n), "%s text", name);
		T_EQ_STR(r->text, text, n);
	}
}

/* ------------------------------------------------------------------ */

static void
test_expand(void)
{
	static const struct {
		const char	*name, *tmpl, *addr, *want;
		int		 class;		/* MXK_ERR_OK: success */
		const char	*status;
	} cases[] = {
		{ "plain", "/m/%d/%u", "bob@example.com", "/m/example.com/bob",
		    MXK_ERR_OK, NULL },
		{ "lowercased", "/m/%d/%u", "Bob.Smith@Example.COM",
		    "/m/example.com/bob.smith", MXK_ERR_OK, NULL },
		{ "percent", "/m/100%%/%u%%", "a@b.test", "/m/100%/a%",
		    MXK_ERR_OK, NULL },
		{ "no expansion", "/var/mail/all", "a@b.test",
		    "/var/mail/all", MXK_ERR_OK, NULL },
		{ "only %u, no domain", "/m/%u", "postmaster", "/m/postmaster",
		    MXK_ERR_OK, NULL },
		{ "quoted", "/m/%u", "\"John Doe\"@x.test", "/m/john doe",
		    MXK_ERR_OK, NULL },
		{ "quoted @ and escape", "/m/%d/%u", "\"a@b\\\"c\"@x.test",
		    "/m/x.test/a@b\"c", MXK_ERR_OK, NULL },
		{ "utf-8 kept", "/m/%u", "J\xc3\xb6rg@x.test",
		    "/m/j\xc3\xb6rg", MXK_ERR_OK, NULL },
		{ "literal", "/m/%d", "a@[192.0.2.1]", "/m/[192.0.2.1]",
		    MXK_ERR_OK, NULL },
		{ "inner dot", "/m/%u", "a.b@x.test", "/m/a.b", MXK_ERR_OK,
		    NULL },
		{ "slash", "/m/%u", "a/b@x.test", NULL, MXK_ERR_RCPT, "5.1.3" },
		{ "dotdot", "/m/%u", "..@x.test", NULL, MXK_ERR_RCPT,
		    "5.1.3" },
		{ "leading dot", "/m/%u", ".profile@x.test", NULL,
		    MXK_ERR_RCPT, "5.1.3" },
		{ "inner dotdot", "/m/%u", "a..b@x.test", NULL, MXK_ERR_RCPT,
		    "5.1.3" },
		{ "control", "/m/%u", "a\x01" "b@x.test", NULL, MXK_ERR_RCPT,
		    "5.1.3" },
		{ "DEL", "/m/%u", "a\x7f@x.test", NULL, MXK_ERR_RCPT, "5.1.3" },
		{ "empty local", "/m/%u", "@x.test", NULL, MXK_ERR_RCPT,
		    "5.1.3" },
		{ "empty domain", "/m/%d/%u", "a@", NULL, MXK_ERR_RCPT,
		    "5.1.3" },
		{ "no domain", "/m/%d", "postmaster", NULL, MXK_ERR_RCPT,
		    "5.1.3" },
		{ "domain slash", "/m/%d", "a@x/../y", NULL, MXK_ERR_RCPT,
		    "5.1.3" },
		{ "domain dot", "/m/%d", "a@.x.test", NULL, MXK_ERR_RCPT,
		    "5.1.3" },
		{ "quoted slash", "/m/%u", "\"a/b\"@x.test", NULL, MXK_ERR_RCPT,
		    "5.1.3" },
		{ "quoted dotdot", "/m/%u", "\"..\"@x.test", NULL,
		    MXK_ERR_RCPT, "5.1.3" },
		{ "quoted escaped slash", "/m/%u", "\"a\\/b\"@x.test", NULL,
		    MXK_ERR_RCPT, "5.1.3" },
		{ "quoted empty", "/m/%u", "\"\"@x.test", NULL, MXK_ERR_RCPT,
		    "5.1.3" },
		{ "quoted LF", "/m/%u", "\"a\nb\"@x.test", NULL, MXK_ERR_RCPT,
		    "5.1.3" },
		{ "quote open", "/m/%u", "\"ab@x.test", NULL, MXK_ERR_RCPT,
		    "5.1.3" },
		{ "unused part unchecked", "/m/%u", "a@x/y", "/m/a",
		    MXK_ERR_OK, NULL },
		{ "bad sequence", "/m/%x", "a@b.test", NULL, MXK_ERR_CONFIG,
		    "4.3.0" },
		{ "lone percent", "/m/%", "a@b.test", NULL, MXK_ERR_CONFIG,
		    "4.3.0" },
		{ "relative", "m/%u", "a@b.test", NULL, MXK_ERR_CONFIG,
		    "4.3.0" },
		{ "empty template", "", "a@b.test", NULL, MXK_ERR_CONFIG,
		    "4.3.0" },
		{ "validate only", "/m/%d/%u", NULL, NULL, MXK_ERR_OK, NULL },
		{ "validate bad", "/m/%q", NULL, NULL, MXK_ERR_CONFIG,
		    "4.3.0" },
	};
	char		out[256];
	struct mxk_err	e;
	size_t		i;
	int		r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mxk_err_clear(&e);
		r = mxk_store_expand(cases[i].tmpl, cases[i].addr,
		    cases[i].addr != NULL ? out : NULL, sizeof(out), &e);
		if (cases[i].class == MXK_ERR_OK) {
			T_OK(r == 0, "expand %s: %s", cases[i].name, e.msg);
			if (r == 0 && cases[i].want != NULL)
				T_EQ_STR(out, cases[i].want, cases[i].name);
		} else {
			T_OK(r == -1, "expand %s: accepted", cases[i].name);
			T_EQ_INT(e.class, cases[i].class, cases[i].name);
			T_EQ_STR(e.status, cases[i].status, cases[i].name);
			T_EQ_INT(e.code, cases[i].class == MXK_ERR_RCPT ?
			    550 : 451, cases[i].name);
		}
	}
	T_EQ_INT(mxk_store_expand("/m/%u", "a@b.test", out, 4, &e), -1,
	    "expand too long");
	T_EQ_INT(e.class, MXK_ERR_CONFIG, "expand too long class");
	T_EQ_INT(mxk_store_expand(NULL, NULL, NULL, 0, &e), -1,
	    "expand NULL template");
}

/* ------------------------------------------------------------------ */

static void
test_maildir(void)
{
	const char *const	 one[] = { "Bob@Example.COM" };
	const char *const	 three[] = { "A@x.test", "b@x.test",
				    "a@X.TEST" };
	const char *const	 mixed[] = { "../etc@x.test", "ok@x.test" };
	char			 tmpl[FOLDERLEN], fa[FOLDERLEN], fb[FOLDERLEN];
	char			 pa[FILELEN], pb[FILELEN], path[FILELEN];
	char			 names[MAXNAMES][256];
	struct mxk_store_params	 p;
	struct mxk_store_env	 env;
	struct mxk_store_result	 res[3];
	struct mxk_store_msg	*m;
	struct mxk_err		 e;
	struct stat		 sa, sb;
	int			 i, n, fd;

	(void)snprintf(path, sizeof(path), "%s/mail", dir);
	T_EQ_INT(mkdir(path, 0700), 0, "mkdir mail");
	(void)snprintf(tmpl, sizeof(tmpl), "%s/mail/%%d/%%u", dir);
	memset(&p, 0, sizeof(p));
	p.kind = MXK_STORE_MAILDIR;
	p.maildir = tmpl;
	p.lmtp = 1;
	p.hostname = "mx1/a:b";

	/* One recipient: folders made, the file byte-exact, mode 0600. */
	env_init(&env, one, 1);
	T_EQ_INT(deliver(&p, &env, small, SMALLLEN, 7, res, &e), 0,
	    "maildir one");
	res_is(&res[0], 250, "2.0.0", "Ok: queued as QID1", "maildir one");
	(void)snprintf(fa, sizeof(fa), "%s/mail/example.com/bob", dir);
	T_EQ_INT(only_file(fa, pa, sizeof(pa)), 0, "one file in new/");
	T_OK(same(pa, small, SMALLLEN), "content byte-exact");
	T_EQ_INT(stat(pa, &sa), 0, "stat the file");
	T_EQ_INT(sa.st_mode & 0777, 0600, "file mode");
	T_EQ_INT(count(fa, "tmp"), 0, "tmp/ empty");
	T_EQ_INT(count(fa, "cur"), 0, "cur/ made");
	(void)snprintf(path, sizeof(path), "%s/tmp", fa);
	T_EQ_INT(stat(path, &sa), 0, "stat tmp/");
	T_EQ_INT(sa.st_mode & 0777, 0700, "tmp/ mode");
	T_OK(name_ok(strrchr(pa, '/') + 1, "mx1\\057a\\072b"),
	    "file name %s", strrchr(pa, '/') + 1);

	/* Three recipients, two folders (Bob and bob are one), big. */
	env_init(&env, three, 3);
	T_EQ_INT(deliver(&p, &env, big, biglen, 1000, res, &e), 0,
	    "maildir three");
	for (i = 0; i < 3; i++)
		res_is(&res[i], 250, "2.0.0", "Ok: queued as QID1",
		    "maildir three");
	(void)snprintf(fa, sizeof(fa), "%s/mail/x.test/a", dir);
	(void)snprintf(fb, sizeof(fb), "%s/mail/x.test/b", dir);
	T_EQ_INT(only_file(fa, pa, sizeof(pa)), 0, "one file for A and a");
	T_EQ_INT(only_file(fb, pb, sizeof(pb)), 0, "one file for b");
	T_OK(same(pa, big, biglen), "content a");
	T_OK(same(pb, big, biglen), "content b");
	T_EQ_INT(stat(pa, &sa) | stat(pb, &sb), 0, "stat both");
	T_OK(sa.st_ino == sb.st_ino && sa.st_nlink == 2,
	    "written once, linked twice");
	T_EQ_INT(count(fa, "tmp") + count(fb, "tmp"), 0, "tmp/ empty");

	/* One big write, and names unique across messages. */
	for (i = 0; i < 4; i++)
		T_EQ_INT(deliver(&p, &env, big, biglen, biglen, res, &e), 0,
		    "maildir again");
	(void)snprintf(path, sizeof(path), "%s/new", fb);
	n = names_in(path, names, MAXNAMES);
	T_EQ_INT(n, 5, "five files");
	for (i = 0; i < n && i < MAXNAMES; i++) {
		(void)snprintf(path, sizeof(path), "%s/new/%.255s", fb,
		    names[i]);
		T_OK(same(path, big, biglen), "content %s", names[i]);
		T_OK(name_ok(names[i], "mx1\\057a\\072b"), "name %s",
		    names[i]);
	}

	/* Abort: nothing left. */
	env_init(&env, one, 1);
	(void)snprintf(fa, sizeof(fa), "%s/mail/example.com/bob", dir);
	T_EQ_INT(mxk_store_begin(&p, &env, &m, &e), 0, "begin to abort");
	T_EQ_INT(count(fa, "tmp"), 0, "no tmp file before the first flush");
	for (i = 0; i * biglen <= MXK_STORE_BUFSIZE; i++)
		T_EQ_INT(mxk_store_write(m, big, biglen, &e), 0,
		    "write to abort");
	T_EQ_INT(count(fa, "tmp"), 1, "tmp file once the buffer overflows");
	mxk_store_abort(m);
	T_EQ_INT(count(fa, "tmp"), 0, "abort: tmp/ empty");
	T_EQ_INT(count(fa, "new"), 1, "abort: new/ unchanged");
	mxk_store_abort(NULL);

	/* An unsafe local part: refused for that recipient only (LMTP). */
	env_init(&env, mixed, 2);
	(void)snprintf(fa, sizeof(fa), "%s/mail/x.test/ok", dir);
	T_EQ_INT(deliver(&p, &env, small, SMALLLEN, 64, res, &e), -1,
	    "unsafe lmtp");
	res_is(&res[0], 550, "5.1.3", NULL, "unsafe refused");
	res_is(&res[1], 250, "2.0.0", NULL, "safe delivered");
	T_EQ_INT(e.code, 550, "unsafe e.code");
	T_EQ_INT(e.class, MXK_ERR_RCPT, "unsafe e.class");
	T_EQ_INT(count(fa, "new"), 1, "safe one delivered");
	(void)snprintf(path, sizeof(path), "%s/mail/etc", dir);
	T_OK(access(path, F_OK) == -1, "nothing made outside");
	/* Without LMTP: all or nothing. */
	p.lmtp = 0;
	T_EQ_INT(deliver(&p, &env, small, SMALLLEN, 64, res, &e), -1,
	    "unsafe smtp");
	res_is(&res[0], 550, "5.1.3", NULL, "smtp unsafe");
	res_is(&res[1], 550, "5.1.3", NULL, "smtp other");
	T_EQ_INT(count(fa, "new"), 1, "smtp: nothing delivered");
	T_EQ_INT(count(fa, "tmp"), 0, "smtp: tmp/ empty");
	p.lmtp = 1;

	/* A folder that cannot be made (a file in the way): 451 4.3.0. */
	(void)snprintf(path, sizeof(path), "%s/mail/file.test", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	T_OK(fd != -1, "make a file");
	if (fd != -1)
		(void)close(fd);
	{
		const char *const	r2[] = { "u@file.test", "v@x.test" };

		env_init(&env, r2, 2);
		T_EQ_INT(deliver(&p, &env, small, SMALLLEN, 64, res, &e), -1,
		    "ENOTDIR");
		res_is(&res[0], 451, "4.3.0", NULL, "ENOTDIR refused");
		res_is(&res[1], 250, "2.0.0", NULL, "ENOTDIR other");
		T_EQ_INT(e.sys_errno, ENOTDIR, "ENOTDIR errno");
		p.lmtp = 0;
		(void)snprintf(fb, sizeof(fb), "%s/mail/x.test/v", dir);
		T_EQ_INT(deliver(&p, &env, small, SMALLLEN, 64, res, &e), -1,
		    "ENOTDIR smtp");
		res_is(&res[0], 451, "4.3.0", NULL, "ENOTDIR smtp 0");
		res_is(&res[1], 451, "4.3.0", NULL, "ENOTDIR smtp 1");
		T_EQ_INT(count(fb, "new"), 1, "ENOTDIR smtp: not delivered");
		p.lmtp = 1;
	}

	/* Directories past the fixed part are made, several levels deep. */
	(void)snprintf(path, sizeof(path), "%s/mail/%%d/x/%%u/Maildir/", dir);
	p.maildir = path;
	env_init(&env, one, 1);
	T_EQ_INT(deliver(&p, &env, small, SMALLLEN, 64, res, &e), 0,
	    "deep folder");
	(void)snprintf(fa, sizeof(fa), "%s/mail/example.com/x/bob/Maildir",
	    dir);
	T_EQ_INT(only_file(fa, pa, sizeof(pa)), 0, "deep folder file");
	T_OK(same(pa, small, SMALLLEN), "deep folder content");

	/* The fixed part of the template is never made. */
	(void)snprintf(path, sizeof(path), "%s/unmounted/%%u", dir);
	p.maildir = path;
	env_init(&env, one, 1);
	T_EQ_INT(deliver(&p, &env, small, SMALLLEN, 64, res, &e), -1,
	    "missing base");
	res_is(&res[0], 451, "4.3.0", NULL, "missing base");
	T_EQ_INT(e.sys_errno, ENOENT, "missing base errno");
	(void)snprintf(path, sizeof(path), "%s/unmounted", dir);
	T_OK(access(path, F_OK) == -1, "base not made");

	/* A folder one cannot write to (only meaningful when not root). */
	if (geteuid() != 0) {
		(void)snprintf(path, sizeof(path), "%s/mail/x.test/a/tmp", dir);
		T_EQ_INT(chmod(path, 0500), 0, "chmod tmp/");
		p.maildir = tmpl;
		env_init(&env, three, 1);
		T_EQ_INT(deliver(&p, &env, small, SMALLLEN, 64, res, &e), -1,
		    "unwritable");
		res_is(&res[0], 451, "4.3.0", NULL, "unwritable");
		T_EQ_INT(e.sys_errno, EACCES, "unwritable errno");
		(void)chmod(path, 0700);
	}

	/* Bad parameters. */
	p.maildir = "/m/%z";
	T_EQ_INT(mxk_store_begin(&p, &env, &m, &e), -1, "bad template");
	T_EQ_INT(e.class, MXK_ERR_CONFIG, "bad template class");
	T_EQ_INT(e.code, 451, "bad template code");
	T_OK(m == NULL, "no message");
	p.maildir = tmpl;
	env.nrcpt = 0;
	T_EQ_INT(mxk_store_begin(&p, &env, &m, &e), -1, "no recipients");
	T_EQ_INT(e.class, MXK_ERR_USAGE, "no recipients class");
}

/* ------------------------------------------------------------------ */
/* Disk full and cross-device links, on tmpfs in a private mount
 * namespace (root only). */

static int
mount_tmpfs(const char *path, const char *size)
{
	char	opts[64];

	(void)snprintf(opts, sizeof(opts), "size=%s,mode=0700", size);
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return -1;
	return mount("tmpfs", path, "tmpfs", 0, opts);
}

static void
tmpfs_cases(void)
{
	const char *const	 r1[] = { "u@full.test", "v@local.test" };
	const char *const	 r2[] = { "v@local.test", "u@full.test" };
	const char *const	 r3[] = { "v@local.test", "w@roomy.test" };
	char			 tmpl[FOLDERLEN], path[FOLDERLEN];
	char			 full[FOLDERLEN], local[FOLDERLEN];
	char			 roomy[FOLDERLEN], newdir[512], pa[FILELEN];
	char			 pb[FILELEN];
	struct mxk_store_params	 p;
	struct mxk_store_env	 env;
	struct mxk_store_result	 res[2];
	struct mxk_err		 e;
	struct stat		 sa, sb;
	int			 before;

	(void)snprintf(path, sizeof(path), "%s/ns", dir);
	(void)mkdir(path, 0700);
	(void)snprintf(path, sizeof(path), "%s/ns/full.test", dir);
	if (mount_tmpfs(path, "64k") == -1) {
		(void)printf("test_store: skipped disk full: mount: %s\n",
		    strerror(errno));
		return;
	}
	(void)snprintf(path, sizeof(path), "%s/ns/roomy.test", dir);
	if (mount_tmpfs(path, "2m") == -1)
		return;
	(void)snprintf(tmpl, sizeof(tmpl), "%s/ns/%%d/%%u", dir);
	(void)snprintf(full, sizeof(full), "%s/ns/full.test/u", dir);
	(void)snprintf(local, sizeof(local), "%s/ns/local.test/v", dir);
	(void)snprintf(roomy, sizeof(roomy), "%s/ns/roomy.test/w", dir);
	memset(&p, 0, sizeof(p));
	p.kind = MXK_STORE_MAILDIR;
	p.maildir = tmpl;
	p.lmtp = 1;

	/* The message is written on the full file system: all fail. */
	env_init(&env, r1, 2);
	T_EQ_INT(deliver(&p, &env, big, biglen, 4096, res, &e), -1,
	    "disk full");
	res_is(&res[0], 452, "4.3.1", "Insufficient system storage",
	    "disk full 0");
	res_is(&res[1], 452, "4.3.1", NULL, "disk full 1");
	T_EQ_INT(e.sys_errno, ENOSPC, "disk full errno");
	T_EQ_INT(e.class, MXK_ERR_TEMP, "disk full class");
	T_EQ_INT(count(full, "tmp") + count(full, "new"), 0,
	    "full: nothing left");
	T_EQ_INT(count(local, "tmp") + count(local, "new"), 0,
	    "local: nothing left");

	/* Written locally, the copy to the full one fails: that one only. */
	env_init(&env, r2, 2);
	T_EQ_INT(deliver(&p, &env, big, biglen, 4096, res, &e), -1,
	    "copy full");
	res_is(&res[0], 250, "2.0.0", NULL, "copy full local");
	res_is(&res[1], 452, "4.3.1", NULL, "copy full remote");
	T_EQ_INT(count(local, "new"), 1, "local delivered");
	T_EQ_INT(count(full, "tmp") + count(full, "new"), 0,
	    "full: no partial copy");
	T_EQ_INT(count(local, "tmp"), 0, "local tmp/ empty");
	/* Without LMTP the local one is taken back. */
	p.lmtp = 0;
	before = count(local, "new");
	T_EQ_INT(deliver(&p, &env, big, biglen, 4096, res, &e), -1,
	    "copy full smtp");
	res_is(&res[0], 452, "4.3.1", NULL, "smtp local");
	res_is(&res[1], 452, "4.3.1", NULL, "smtp remote");
	T_EQ_INT(count(local, "new"), before, "smtp: taken back");
	T_EQ_INT(count(local, "tmp") + count(full, "tmp"), 0,
	    "smtp: tmp/ empty");
	p.lmtp = 1;

	/* Cross-device (EXDEV): a copy, byte-exact, tmp/ empty after. */
	env_init(&env, r3, 2);
	T_EQ_INT(deliver(&p, &env, big, biglen, 999, res, &e), 0, "exdev");
	res_is(&res[0], 250, "2.0.0", NULL, "exdev 0");
	res_is(&res[1], 250, "2.0.0", NULL, "exdev 1");
	T_EQ_INT(only_file(roomy, pb, sizeof(pb)), 0, "exdev: one file");
	T_OK(same(pb, big, biglen), "exdev copy byte-exact");
	T_EQ_INT(stat(pb, &sb), 0, "stat copy");
	T_EQ_INT(sb.st_mode & 0777, 0600, "copy mode");
	T_EQ_INT(count(roomy, "tmp") + count(local, "tmp"), 0,
	    "exdev: tmp/ empty");
	(void)snprintf(newdir, sizeof(newdir), "%s/new", local);
	{
		char	names[MAXNAMES][256];
		int	n = names_in(newdir, names, MAXNAMES), i, found = -1;

		for (i = 0; i < n && i < MAXNAMES; i++)
			if (strcmp(names[i], strrchr(pb, '/') + 1) == 0)
				found = i;
		T_OK(found != -1, "same name in both folders");
		if (found != -1) {
			(void)snprintf(pa, sizeof(pa), "%s/%s", newdir,
			    names[found]);
			T_OK(stat(pa, &sa) == 0 && sa.st_dev != sb.st_dev,
			    "two file systems");
		}
	}
}

/* Run fn in a child with a private mount namespace; add its counts. */
static void
in_namespace(void (*fn)(void))
{
	int	p[2], c[2] = { 0, 0 }, st;
	pid_t	pid;
	ssize_t	n;

	if (geteuid() != 0) {
		(void)printf("test_store: skipped disk full: not root\n");
		return;
	}
	if (pipe(p) == -1)
		return;
	(void)fflush(stdout);
	if ((pid = fork()) == 0) {
		(void)close(p[0]);
		t_pass = t_fail = 0;
		if (unshare(CLONE_NEWNS) == -1 ||
		    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
			(void)printf("test_store: skipped disk full: "
			    "namespace: %s\n", strerror(errno));
		else
			fn();
		c[0] = t_pass;
		c[1] = t_fail;
		n = write(p[1], c, sizeof(c));
		(void)n;
		(void)fflush(stdout);
		_exit(0);
	}
	(void)close(p[1]);
	if (pid != -1 && read(p[0], c, sizeof(c)) == (ssize_t)sizeof(c)) {
		t_pass += c[0];
		t_fail += c[1];
	} else
		T_OK(0, "namespace child");
	(void)close(p[0]);
	if (pid != -1)
		(void)waitpid(pid, &st, 0);
}

/* ------------------------------------------------------------------ */

static void
test_exec(void)
{
	static const struct {
		const char	*name, *script;
		int		 code;
		const char	*status, *text;
	} cases[] = {
		{ "exit 0", "cat >\"$OUT\"; exit 0", 250, "2.0.0",
		    "Ok: queued as QID1" },
		{ "exit 75", "cat >/dev/null; exit 75", 451, "4.3.0", NULL },
		{ "exit 67", "cat >/dev/null; exit 67", 550, "5.1.1", NULL },
		{ "exit 1", "cat >/dev/null; exit 1", 554, "5.3.0", NULL },
		{ "exit 64", "cat >/dev/null; exit 64", 554, "5.3.0", NULL },
		{ "signal", "cat >/dev/null; kill -TERM $$", 451, "4.3.0",
		    NULL },
		{ "stderr text", "cat >/dev/null; echo 'mailbox over quota' "
		    ">&2; echo second >&2; exit 75", 451, "4.3.0",
		    "mailbox over quota" },
		{ "stderr on success", "cat >/dev/null; echo 'Ok: filed' >&2",
		    250, "2.0.0", "Ok: filed" },
		{ "enhanced code taken", "cat >/dev/null; printf '4.2.2 over "
		    "quota\\r\\n' >&2; exit 75", 451, "4.2.2", "over quota" },
		{ "enhanced code of the wrong class", "cat >/dev/null; "
		    "echo '5.2.2 full' >&2; exit 75", 451, "4.3.0",
		    "5.2.2 full" },
		{ "unprintable", "cat >/dev/null; printf 'a\\tb\\001c\\303\\251"
		    "\\n' >&2; exit 67", 550, "5.1.1", "a?b?c??" },
		{ "long line", "cat >/dev/null; i=0; while [ $i -lt 30 ]; do "
		    "printf 0123456789 >&2; i=$((i+1)); done; exit 1", 554,
		    "5.3.0", "0123456789012345678901234567890123456789"
		    "0123456789012345678901234567890123456789"
		    "0123456789012345678901234567890123456789"
		    "0123456789012345678901234567890123456789"
		    "0123456789012345678901234567890123456789" },
		{ "stderr before reading", "i=0; while [ $i -lt 2000 ]; do "
		    "echo 'noise noise noise noise noise noise noise' >&2; "
		    "i=$((i+1)); done; cat >/dev/null; exit 0", 250, "2.0.0",
		    "noise noise noise noise noise noise noise" },
		{ "stdin ignored, exit 0", "exit 0", 250, "2.0.0", NULL },
		{ "stdin closed, exit 67", "exec 0<&-; sleep 0.2; exit 67",
		    550, "5.1.1", NULL },
		{ "fds above 2 closed", "[ -e /proc/$$/fd/9 ] && exit 1; "
		    "[ \"$(readlink /proc/$$/fd/1)\" = /dev/null ] || exit 2; "
		    "cat >/dev/null", 250, "2.0.0", NULL },
		/* SIGPIPE (bit 13), which the server ignores, is back at
		 * default; other bits depend on how the test was started. */
		{ "SIGPIPE at default", "ign=$(sed -n "
		    "'s/^SigIgn:[[:space:]]*//p' /proc/$$/status); "
		    "[ $((0x$ign & 0x1000)) -eq 0 ] || exit 3; "
		    "cat >/dev/null", 250, "2.0.0", NULL },
	};
	const char *const	 rcpt[] = { "a@x.test", "b@y.test" };
	char			 out[FOLDERLEN], script[2048];
	char			 envout[FOLDERLEN];
	char			*argv[4];
	struct mxk_store_params	 p;
	struct mxk_store_env	 env;
	struct mxk_store_result	 res[2];
	struct mxk_store_msg	*m;
	struct mxk_err		 e;
	long long		 t0;
	size_t			 i, n;
	int			 fd, r;

	(void)snprintf(out, sizeof(out), "%s/exec.out", dir);
	(void)setenv("OUT", out, 1);
	/* A descriptor without FD_CLOEXEC the child must not inherit. */
	if ((fd = open("/dev/null", O_RDONLY)) != -1) {
		(void)dup2(fd, 9);
		(void)close(fd);
	}
	memset(&p, 0, sizeof(p));
	p.kind = MXK_STORE_EXEC;
	p.argv = argv;
	p.timeout_ms = 5000;
	p.lmtp = 1;
	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[3] = NULL;
	env_init(&env, rcpt, 2);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* $OUT is not in the program's environment: put it in. */
		(void)snprintf(script, sizeof(script), "OUT='%s'; %s", out,
		    cases[i].script);
		argv[2] = script;
		r = deliver(&p, &env, big, biglen, 8192, res, &e);
		T_EQ_INT(r, cases[i].code == 250 ? 0 : -1, cases[i].name);
		res_is(&res[0], cases[i].code, cases[i].status, cases[i].text,
		    cases[i].name);
		res_is(&res[1], cases[i].code, cases[i].status, cases[i].text,
		    cases[i].name);
		if (r == -1)
			T_EQ_INT(e.code, cases[i].code, cases[i].name);
	}
	T_OK(same(out, big, biglen), "program got the message");

	/* The environment, and nothing else of ours. */
	(void)snprintf(envout, sizeof(envout), "%s/exec.env", dir);
	(void)snprintf(script, sizeof(script), "printf '%%s|' \"$SENDER\" "
	    "\"$RECIPIENTS\" \"$CLIENT_IP\" \"$HELO\" \"${TLS_CIPHER-unset}\" "
	    "\"${AUTH_USER-unset}\" \"$QUEUE_ID\" \"$PATH\" \"${OUT-unset}\" "
	    ">'%s'; cat >/dev/null", envout);
	argv[2] = script;
	env.helo = "evil\r\nhelo";
	T_EQ_INT(deliver(&p, &env, small, SMALLLEN, 5, res, &e), 0, "env");
	T_OK(same(envout, "sender@x.test|a@x.test b@y.test|192.0.2.1|"
	    "evil??helo|unset|unset|QID1|/usr/bin:/bin|unset|",
	    strlen("sender@x.test|a@x.test b@y.test|192.0.2.1|"
	    "evil??helo|unset|unset|QID1|/usr/bin:/bin|unset|")),
	    "environment");
	env.sender = "";
	env.tls_cipher = "TLS_AES_256_GCM_SHA384";
	env.auth_user = "joe";
	env.queue_id = NULL;
	env.client_ip = NULL;
	(void)snprintf(script, sizeof(script), "printf '%%s|' \"$SENDER\" "
	    "\"${CLIENT_IP-unset}\" \"$TLS_CIPHER\" \"$AUTH_USER\" "
	    "\"${QUEUE_ID-unset}\" >'%s'; cat >/dev/null", envout);
	T_EQ_INT(deliver(&p, &env, small, SMALLLEN, 5, res, &e), 0, "env 2");
	res_is(&res[0], 250, "2.0.0", "Ok", "no queue id");
	T_OK(same(envout, "|unset|TLS_AES_256_GCM_SHA384|joe|unset|",
	    strlen("|unset|TLS_AES_256_GCM_SHA384|joe|unset|")),
	    "environment 2");
	env_init(&env, rcpt, 2);

	/* argv[0] looked up in the path. */
	argv[0] = "sh";
	argv[2] = "cat >/dev/null";
	T_EQ_INT(deliver(&p, &env, small, SMALLLEN, 64, res, &e), 0,
	    "path lookup");
	argv[0] = "no-such-program-mxkit";
	T_EQ_INT(mxk_store_begin(&p, &env, &m, &e), -1, "not in path");
	T_EQ_INT(e.code, 451, "not in path code");
	T_EQ_INT(e.sys_errno, ENOENT, "not in path errno");
	argv[0] = "/nonexistent/mxkit";
	T_EQ_INT(mxk_store_begin(&p, &env, &m, &e), -1, "cannot execute");
	T_EQ_INT(e.sys_errno, ENOENT, "cannot execute errno");
	argv[0] = "/bin/sh";
	p.argv = NULL;
	T_EQ_INT(mxk_store_begin(&p, &env, &m, &e), -1, "no argv");
	p.argv = argv;
	{
		const char *const	bad[] = { "a@x.test\r\nb@y.test" };

		env_init(&env, bad, 1);
		T_EQ_INT(mxk_store_begin(&p, &env, &m, &e), -1,
		    "CRLF in a recipient");
		env_init(&env, rcpt, 2);
	}

	/* Exits while we write 1 MiB: EPIPE, the rest dropped. */
	argv[2] = "exit 0";
	T_EQ_INT(mxk_store_begin(&p, &env, &m, &e), 0, "epipe begin");
	(void)usleep(100000);
	r = 0;
	for (n = 0; n < 4; n++)
		r |= mxk_store_write(m, big, biglen, &e);
	T_EQ_INT(r, 0, "epipe writes return 0");
	T_EQ_INT(mxk_store_end(m, res, &e), 0, "epipe end");
	res_is(&res[0], 250, "2.0.0", NULL, "epipe result");

	/* Past the deadline: killed, 451. */
	p.timeout_ms = 300;
	argv[2] = "sleep 5";
	t0 = mxk_now_ms();
	T_EQ_INT(deliver(&p, &env, small, SMALLLEN, 64, res, &e), -1,
	    "timeout");
	res_is(&res[0], 451, "4.3.0", "Delivery program timed out", "timeout");
	T_OK(mxk_now_ms() - t0 < 2000, "timeout took %lld ms",
	    mxk_now_ms() - t0);
	/* ... also while the program does not read. */
	argv[2] = "echo 'never shown' >&2; sleep 5";
	t0 = mxk_now_ms();
	T_EQ_INT(deliver(&p, &env, big, biglen, biglen, res, &e), -1,
	    "timeout writing");
	res_is(&res[0], 451, "4.3.0", "Delivery program timed out",
	    "timeout writing");
	T_OK(mxk_now_ms() - t0 < 2000, "timeout writing took %lld ms",
	    mxk_now_ms() - t0);
	/* The whole process group goes. */
	(void)snprintf(script, sizeof(script), "(sleep 1; echo late >'%s') & "
	    "sleep 5", envout);
	argv[2] = script;
	(void)unlink(envout);
	T_EQ_INT(deliver(&p, &env, small, SMALLLEN, 64, res, &e), -1,
	    "timeout group");
	(void)usleep(1300000);
	T_OK(access(envout, F_OK) == -1, "grandchild killed too");
	p.timeout_ms = 5000;

	/* Abort kills at once. */
	argv[2] = "sleep 5";
	t0 = mxk_now_ms();
	T_EQ_INT(mxk_store_begin(&p, &env, &m, &e), 0, "abort begin");
	T_EQ_INT(mxk_store_write(m, small, SMALLLEN, &e), 0, "abort write");
	mxk_store_abort(m);
	T_OK(mxk_now_ms() - t0 < 1000, "abort took %lld ms",
	    mxk_now_ms() - t0);

	/* No zombies, nothing left running. */
	errno = 0;
	T_OK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD,
	    "no children left");
	(void)close(9);
}

static void
test_discard(void)
{
	const char *const	 rcpt[] = { "a@x.test", "b@y.test",
				    "c@z.test" };
	struct mxk_store_params	 p;
	struct mxk_store_env	 env;
	struct mxk_store_result	 res[3];
	struct mxk_store_msg	*m;
	struct mxk_err		 e;
	int			 i;

	memset(&p, 0, sizeof(p));
	p.kind = MXK_STORE_DISCARD;
	env_init(&env, rcpt, 3);
	T_EQ_INT(deliver(&p, &env, big, 12345, 1000, res, &e), 0, "discard");
	for (i = 0; i < 3; i++)
		res_is(&res[i], 250, "2.0.0", "Ok: queued as QID1", "discard");
	T_EQ_INT(mxk_store_begin(&p, &env, &m, &e), 0, "discard begin");
	T_EQ_INT(mxk_store_write(m, NULL, 5, &e), -1, "write NULL");
	T_EQ_INT(mxk_store_write(m, NULL, 0, &e), 0, "write nothing");
	T_EQ_INT(mxk_store_end(m, NULL, &e), 0, "end without results");
	p.kind = (enum mxk_store_kind)42;
	T_EQ_INT(mxk_store_begin(&p, &env, &m, &e), -1, "unknown kind");
}

/* mxk_store_check(): the --exec program, looked up as begin() would. */
static void
test_check(void)
{
	struct mxk_store_params	p;
	struct mxk_err		e;
	char			*argv[2] = { NULL, NULL };
	char			 plain[PATH_MAX];
	int			 fd;

	memset(&p, 0, sizeof(p));
	p.kind = MXK_STORE_EXEC;
	p.argv = argv;
	argv[0] = "sh";
	T_EQ_INT(mxk_store_check(&p, &e), 0, "check: sh found on the path");
	argv[0] = "/nonexistent/deliver";
	T_EQ_INT(mxk_store_check(&p, &e), -1, "check: a missing program");
	T_OK(strstr(e.msg, "not found") != NULL, "check: says so: %s", e.msg);
	(void)snprintf(plain, sizeof(plain), "%s/plain", dir);
	if ((fd = open(plain, O_WRONLY | O_CREAT | O_TRUNC, 0644)) != -1)
		(void)close(fd);
	argv[0] = plain;
	T_EQ_INT(mxk_store_check(&p, &e), -1, "check: not executable");
	(void)unlink(plain);
	argv[0] = "sh";
	p.path = "/nonexistent";
	T_EQ_INT(mxk_store_check(&p, &e), -1, "check: params.path is used");
	p.kind = MXK_STORE_DISCARD;
	T_EQ_INT(mxk_store_check(&p, &e), 0, "check: other kinds pass");
}

int
main(void)
{
	char	cmd[PATH_MAX + 16];
	size_t	i;
	int	n;

	(void)signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL)
		return 1;
	for (i = 0, biglen = 0; biglen + 80 < sizeof(big); i++) {
		n = snprintf(big + biglen, sizeof(big) - biglen,
		    "%06zu The quick brown fox jumps over the lazy dog.\r\n",
		    i);
		biglen += (size_t)n;
	}

	test_expand();
	test_maildir();
	in_namespace(tmpfs_cases);
	test_exec();
	test_check();
	test_discard();

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)system(cmd);
	return t_done("test_store");
}

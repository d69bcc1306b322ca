/* ISC license. */

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "passwd.h"
#include "t.h"

/* A SHA-512 crypt(3) hash of pass (fixed salt: the test is repeatable). */
static const char *
hash_of(const char *pass, const char *salt, char *out, size_t len)
{
	const char	*h = crypt(pass, salt);

	(void)snprintf(out, len, "%s", h != NULL ? h : "*");
	return out;
}

/* The file's content parsed from memory: the same as from the file. */
static void
test_mem(void)
{
	struct mxk_passwd	*pw = NULL, *pf = NULL;
	struct mxk_err		 e;
	char			 buf[2048], ha[256], hb[256];
	char			 path[] = "/tmp/test_passwd.XXXXXX";
	FILE			*f;
	int			 fd, n;

	n = snprintf(buf, sizeof(buf), "# users\n\nalice:%s\nbob:%s\n",
	    hash_of("s3cret", "$6$mxkitsalt1", ha, sizeof(ha)),
	    hash_of("hunter2", "$6$mxkitsalt2", hb, sizeof(hb)));
	T_EQ_INT(mxk_passwd_load_mem("mem", buf, (size_t)n, &pw, &e), 0,
	    "load from memory");
	T_EQ_INT(mxk_passwd_count(pw), 2, "two users");
	T_EQ_INT(mxk_passwd_check(pw, "alice", "s3cret"), 1, "alice in");
	T_EQ_INT(mxk_passwd_check(pw, "bob", "hunter2"), 1, "bob in");
	T_EQ_INT(mxk_passwd_check(pw, "bob", "s3cret"), 0, "bob, wrong");
	T_EQ_INT(mxk_passwd_check(pw, "carol", "s3cret"), 0, "unknown user");

	/* The same octets in a file. */
	if ((fd = mkstemp(path)) != -1 && (f = fdopen(fd, "w")) != NULL) {
		(void)fwrite(buf, 1, (size_t)n, f);
		(void)fclose(f);
		T_EQ_INT(mxk_passwd_load(path, &pf, &e), 0, "load the file");
		T_EQ_INT(mxk_passwd_count(pf), mxk_passwd_count(pw),
		    "file and memory agree");
		mxk_passwd_free(pf);
		(void)unlink(path);
	} else
		T_OK(0, "mkstemp");
	mxk_passwd_free(pw);

	/* No newline at the end, then nothing at all. */
	n = snprintf(buf, sizeof(buf), "alice:%s", ha);
	T_EQ_INT(mxk_passwd_load_mem("mem", buf, (size_t)n, &pw, &e), 0,
	    "last line without newline");
	T_EQ_INT(mxk_passwd_check(pw, "alice", "s3cret"), 1,
	    "last line counts");
	mxk_passwd_free(pw);
	T_EQ_INT(mxk_passwd_load_mem("mem", "", 0, &pw, &e), 0, "empty");
	T_EQ_INT(mxk_passwd_count(pw), 0, "empty: no users");
	mxk_passwd_free(pw);

	/* A bad line fails the load, naming the source and the line. */
	n = snprintf(buf, sizeof(buf), "alice:%s\nbob\n", ha);
	pw = NULL;
	T_EQ_INT(mxk_passwd_load_mem("/etc/x", buf, (size_t)n, &pw, &e), -1,
	    "bad line refused");
	T_OK(pw == NULL, "nothing returned");
	T_OK(strstr(e.msg, "/etc/x:2") != NULL, "error names line 2: %s",
	    e.msg);
	T_EQ_INT(e.class, MXK_ERR_CONFIG, "a configuration error");
}

int
main(void)
{
	test_mem();
	return t_done("passwd");
}

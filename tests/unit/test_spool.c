/* ISC license. */

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "spool.h"
#include "t.h"

static struct mxk_msg *
mkmsg(const char *text)
{
	char		 path[] = "/tmp/mxkit-test-spool-in.XXXXXX";
	struct mxk_msg	*m = NULL;
	struct mxk_err	 e;
	int		 fd = mkstemp(path);

	if (fd == -1)
		return NULL;
	(void)unlink(path);
	if (write(fd, text, strlen(text)) == (ssize_t)strlen(text) &&
	    lseek(fd, 0, SEEK_SET) == 0)
		(void)mxk_msg_read(fd, NULL, &m, &e);
	(void)close(fd);
	return m;
}

int
main(void)
{
	char			 dir[] = "/tmp/mxkit-test-spool.XXXXXX";
	char			 name[MXK_SPOOL_NAMEMAX], path[512], buf[256];
	const char		*rcpt[] = { "a@x.test", "b@y.test" };
	struct mxk_spool_meta	 m;
	struct mxk_spool_entry	 en, en2;
	struct mxk_msg		*msg, *back;
	struct mxk_err		 e;
	struct stat		 st;
	char			**names;
	size_t			 n;
	ssize_t			 got;
	int			 fd;

	if (mkdtemp(dir) == NULL)
		return 1;
	msg = mkmsg("Subject: s\n\nhello\n");
	T_OK(msg != NULL, "message");

	memset(&m, 0, sizeof(m));
	m.from = "me@x.test";
	m.rcpt = rcpt;
	m.nrcpt = 2;
	m.first = 1000;
	m.attempts = 1;
	m.next = 1300;
	m.error = "451 4.4.1 no answer";
	T_EQ_INT(mxk_spool_put(dir, NULL, &m, msg, name, sizeof(name), &e), 0,
	    "put");
	(void)snprintf(path, sizeof(path), "%s/new/%s", dir, name);
	T_EQ_INT(stat(path, &st), 0, "entry exists");
	T_EQ_INT(st.st_mode & 0777, 0600, "entry mode");
	(void)snprintf(path, sizeof(path), "%s/tmp", dir);
	T_EQ_INT(stat(path, &st), 0, "tmp exists");
	T_EQ_INT(st.st_mode & 0777, 0700, "tmp mode");

	T_EQ_INT(mxk_spool_list(dir, &names, &n, &e), 0, "list");
	T_EQ_INT(n, 1, "list count");
	if (n == 1)
		T_EQ_STR(names[0], name, "list name");
	mxk_spool_names_free(names, n);

	T_EQ_INT(mxk_spool_open(dir, name, &en, &e), 0, "open");
	T_EQ_STR(en.from, "me@x.test", "from");
	T_EQ_INT(en.nrcpt, 2, "rcpts");
	if (en.nrcpt == 2)
		T_EQ_STR(en.rcpt[1], "b@y.test", "rcpt 1");
	T_EQ_INT(en.first, 1000, "first");
	T_EQ_INT(en.attempts, 1, "attempts");
	T_EQ_INT(en.next, 1300, "next");
	T_EQ_STR(en.error, "451 4.4.1 no answer", "error");
	/* Locked: a second open says busy. */
	T_EQ_INT(mxk_spool_open(dir, name, &en2, &e), 1, "locked");
	T_EQ_INT(mxk_spool_message(&en, &back, &e), 0, "message");
	if (back != NULL) {
		got = mxk_msg_read_chunk(back, buf, sizeof(buf) - 1, &e);
		buf[got > 0 ? got : 0] = '\0';
		T_EQ_STR(buf, "Subject: s\r\n\r\nhello\r\n", "message back");
		mxk_msg_free(back);
	}
	/* Update in place: the same name, new state. */
	m.attempts = 2;
	m.nrcpt = 1;
	T_EQ_INT(mxk_spool_put(dir, name, &m, msg, NULL, 0, &e), 0, "update");
	T_EQ_INT(mxk_spool_remove(dir, &en, &e), 0, "remove");
	mxk_spool_close(&en);
	T_EQ_INT(mxk_spool_list(dir, &names, &n, &e), 0, "list after");
	T_EQ_INT(n, 0, "empty after remove");
	mxk_spool_names_free(names, n);

	/* Refusals. */
	rcpt[0] = "x@y.test\r\nrcpt evil@z.test";
	m.nrcpt = 1;
	T_EQ_INT(mxk_spool_put(dir, NULL, &m, msg, NULL, 0, &e), -1,
	    "CRLF in recipient");
	rcpt[0] = "a@x.test";
	T_EQ_INT(mxk_spool_put(dir, "../x", &m, msg, NULL, 0, &e), -1,
	    "bad name");
	(void)snprintf(path, sizeof(path), "%s/new/junk", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT, 0600)) != -1) {
		(void)write(fd, "not a spool entry\n", 18);
		(void)close(fd);
	}
	T_EQ_INT(mxk_spool_open(dir, "junk", &en, &e), -1, "junk refused");
	T_EQ_INT(e.class, MXK_ERR_DATA, "junk class");
	T_EQ_INT(mxk_spool_open(dir, "absent", &en, &e), 1, "absent");
	(void)unlink(path);

	T_EQ_INT(mxk_spool_backoff(1), 300, "backoff 1");
	T_EQ_INT(mxk_spool_backoff(2), 600, "backoff 2");
	T_EQ_INT(mxk_spool_backoff(30), 4 * 3600, "backoff cap");

	mxk_msg_free(msg);
	(void)snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	(void)system(path);
	return t_done("test_spool");
}

/* ISC license. */

#include <sys/stat.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "check.h"
#include "clock.h"
#include "t.h"

static void
test_encode(void)
{
	static const struct {
		const char	*k, *v, *want;
	} cases[] = {
		{ "from", "a@b.test", "from=a@b.test\n" },
		{ "from", "", "from=\n" },
		{ "from", NULL, "from=\n" },
		{ "helo", "a b", "helo=a%20b\n" },
		{ "rcpt", "\"x y\"@d.test", "rcpt=\"x%20y\"@d.test\n" },
		{ "t", "100%\r\n", "t=100%25%0D%0A\n" },
		{ "t", "\xc3\xa9=", "t=%C3%A9=\n" },
	};
	struct mxk_buf	b;
	const char	*kv[4];
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mxk_buf_init(&b, 256);
		kv[0] = cases[i].k;
		kv[1] = cases[i].v;
		T_EQ_INT(mxk_check_encode(&b, kv, 1), 0, cases[i].want);
		T_EQ_STR(b.p, cases[i].want, cases[i].want);
		mxk_buf_free(&b);
	}
	mxk_buf_init(&b, 256);
	kv[0] = "a";
	kv[1] = "1";
	kv[2] = "b_c";
	kv[3] = "2";
	T_EQ_INT(mxk_check_encode(&b, kv, 2), 0, "two fields");
	T_EQ_STR(b.p, "a=1 b_c=2\n", "two fields");
	kv[0] = "Bad";
	T_EQ_INT(mxk_check_encode(&b, kv, 1), -1, "bad key");
	kv[0] = "a b";
	T_EQ_INT(mxk_check_encode(&b, kv, 1), -1, "key with a space");
	T_EQ_STR(b.p, "a=1 b_c=2\n", "nothing added on failure");
	mxk_buf_free(&b);
	mxk_buf_init(&b, 8);
	kv[0] = "a";
	kv[1] = "0123456789";
	T_EQ_INT(mxk_check_encode(&b, kv, 1), -1, "over the cap");
	T_EQ_INT(b.len, 0, "empty after failure");
	mxk_buf_free(&b);
}

static void
test_parse(void)
{
	static const struct {
		const char	*line;
		int		 rc, accept, code;
		const char	*status, *text;
	} cases[] = {
		{ "0", 0, 1, 250, "2.1.5", "Ok" },
		{ "0 fine", 0, 1, 250, "2.1.5", "Ok" },
		{ "250 Ok", 0, 1, 250, "2.1.5", "Ok" },
		{ "67", 0, 0, 550, "5.1.1", "Error: no such recipient here" },
		{ "75 mailbox busy", 0, 0, 451, "4.3.0", "mailbox busy" },
		{ "3", 0, 0, 554, "5.3.0", "Error: refused by policy" },
		{ "550 5.1.1 no such user", 0, 0, 550, "5.1.1",
		    "no such user" },
		{ "450 5.1.1 class mismatch", 0, 0, 450, "4.7.1",
		    "5.1.1 class mismatch" },
		{ "421 4.3.2 going away", 0, 0, 421, "4.3.2", "going away" },
		{ "554", 0, 0, 554, "5.7.1", "Error: refused by policy" },
		{ "452 4.2.2\r", 0, 0, 452, "4.2.2",
		    "Error: refused by policy" },
		{ "550 a\tb", 0, 0, 550, "5.7.1", "a?b" },
		{ "", -1, 0, 0, "", "" },
		{ "ok", -1, 0, 0, "", "" },
		{ "100 x", -1, 0, 0, "", "" },
		{ "600", -1, 0, 0, "", "" },
		{ "3500", -1, 0, 0, "", "" },
		{ "55x", -1, 0, 0, "", "" },
		{ " 0", -1, 0, 0, "", "" },
	};
	struct mxk_check_result	r;
	size_t			i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		T_EQ_INT(mxk_check_parse(cases[i].line,
		    strlen(cases[i].line), &r), cases[i].rc, cases[i].line);
		if (cases[i].rc != 0)
			continue;
		T_EQ_INT(r.accept, cases[i].accept, cases[i].line);
		T_EQ_INT(r.code, cases[i].code, cases[i].line);
		T_EQ_STR(r.status, cases[i].status, cases[i].line);
		T_EQ_STR(r.text, cases[i].text, cases[i].line);
	}
}

struct got {
	int	n;
	int	codes[16];
	char	texts[16][256];
};

static void
done(void *cookie, const struct mxk_check_result *r)
{
	struct got	*g = cookie;

	if (g->n < 16) {
		g->codes[g->n] = r->accept ? 250 : r->code;
		(void)snprintf(g->texts[g->n], sizeof(g->texts[0]), "%s",
		    r->text);
	}
	g->n++;
}

/* Step until want callbacks came or ms passed. */
static void
run(struct mxk_check *c, struct got *g, int want, int ms)
{
	long long	end = mxk_now_ms() + ms, wake;
	struct pollfd	pfd[2];
	int		rfd, wfd, n;

	while (g->n < want && mxk_now_ms() < end) {
		mxk_check_fds(c, &rfd, &wfd);
		n = 0;
		if (rfd != -1) {
			pfd[n].fd = rfd;
			pfd[n++].events = POLLIN;
		}
		if (wfd != -1) {
			pfd[n].fd = wfd;
			pfd[n++].events = POLLOUT;
		}
		wake = mxk_check_wake(c);
		(void)poll(pfd, (nfds_t)n, wake == LLONG_MAX ? 100 :
		    mxk_ms_left(wake) < 100 ? mxk_ms_left(wake) : 100);
		mxk_check_step(c);
	}
}

static void
test_program(void)
{
	static const char script[] =
	    "#!/bin/sh\n"
	    "# Answers by the recipient; env must hold PATH alone.\n"
	    "while read -r line; do\n"
	    "  case $line in\n"
	    "  *rcpt=env@*) echo \"550 $(env | grep -v -e ^PWD= -e ^SHLVL= "
	    "-e ^_= -e ^OLDPWD= | tr '\\n' ' ')\" ;;\n"
	    "  *rcpt=bad@*) echo '550 5.1.1 no such user here' ;;\n"
	    "  *rcpt=temp@*) echo 75 ;;\n"
	    "  *rcpt=die@*) exit 3 ;;\n"
	    "  *rcpt=slow@*) sleep 5; echo 0 ;;\n"
	    "  *rcpt=junk@*) echo 'what?' ;;\n"
	    "  *rcpt=echo@*) echo \"550 $line\" ;;\n"
	    "  *) echo 0 ;;\n"
	    "  esac\n"
	    "done\n";
	char			 dir[] = "/tmp/test_check.XXXXXX", path[64];
	char			*argv[2];
	struct mxk_check_params	 p;
	struct mxk_check	*c;
	struct mxk_err		 e;
	struct got		 g;
	const char		*kv[4] = { "client", "192.0.2.1", "rcpt", NULL };
	FILE			*f;

	if (mkdtemp(dir) == NULL) {
		T_OK(0, "mkdtemp");
		return;
	}
	(void)snprintf(path, sizeof(path), "%s/policy", dir);
	if ((f = fopen(path, "w")) == NULL) {
		T_OK(0, "write the script");
		return;
	}
	(void)fputs(script, f);
	(void)fclose(f);
	(void)chmod(path, 0700);
	argv[0] = path;
	argv[1] = NULL;
	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = 500;
	p.max_pending = 8;
	T_EQ_INT(mxk_check_new(&p, done, &c, &e), 0, "new");
	T_EQ_INT(mxk_check_starts(c), 0, "not started before a request");

	memset(&g, 0, sizeof(g));
	kv[3] = "ok@d.test";
	T_EQ_INT(mxk_check_submit(c, kv, 2, &g, &e), 0, "submit ok");
	kv[3] = "bad@d.test";
	T_EQ_INT(mxk_check_submit(c, kv, 2, &g, &e), 0, "submit bad");
	kv[3] = "temp@d.test";
	T_EQ_INT(mxk_check_submit(c, kv, 2, &g, &e), 0, "submit temp");
	kv[3] = "env@d.test";
	T_EQ_INT(mxk_check_submit(c, kv, 2, &g, &e), 0, "submit env");
	kv[3] = "sp ace@d.test";
	kv[3] = "echo@d.test";
	T_EQ_INT(mxk_check_submit(c, kv, 2, &g, &e), 0, "submit echo");
	T_EQ_INT(mxk_check_pending(c), 5, "five waiting");
	run(c, &g, 5, 3000);
	T_EQ_INT(g.n, 5, "five answers");
	T_EQ_INT(g.codes[0], 250, "accepted");
	T_EQ_INT(g.codes[1], 550, "refused");
	T_EQ_STR(g.texts[1], "no such user here", "refused text");
	T_EQ_INT(g.codes[2], 451, "75 is 451");
	T_EQ_STR(g.texts[3], "PATH=/usr/bin:/bin ", "the environment: PATH");
	T_EQ_STR(g.texts[4], "client=192.0.2.1 rcpt=echo@d.test",
	    "the request line as the program saw it");
	T_EQ_INT(mxk_check_starts(c), 1, "one program for all");

	/* It dies: the waiting request fails, the next starts a new one
	 * (one second later at the soonest). */
	memset(&g, 0, sizeof(g));
	kv[3] = "die@d.test";
	T_EQ_INT(mxk_check_submit(c, kv, 2, &g, &e), 0, "submit die");
	run(c, &g, 1, 3000);
	T_EQ_INT(g.n, 1, "die answered");
	T_EQ_INT(g.codes[0], 451, "die: 451");
	(void)usleep(1100 * 1000);
	kv[3] = "ok@d.test";
	T_EQ_INT(mxk_check_submit(c, kv, 2, &g, &e), 0, "submit after death");
	run(c, &g, 2, 3000);
	T_EQ_INT(g.codes[1], 250, "restarted and answered");
	T_EQ_INT(mxk_check_starts(c), 2, "started again");

	/* Too slow: killed at the deadline; a reply that is not one: the
	 * same. */
	memset(&g, 0, sizeof(g));
	(void)usleep(1100 * 1000);
	kv[3] = "slow@d.test";
	T_EQ_INT(mxk_check_submit(c, kv, 2, &g, &e), 0, "submit slow");
	kv[3] = "ok@d.test";
	T_EQ_INT(mxk_check_submit(c, kv, 2, &g, &e), 0, "submit behind");
	run(c, &g, 2, 3000);
	T_EQ_INT(g.n, 2, "slow: both answered");
	T_EQ_INT(g.codes[0], 451, "slow: 451");
	T_EQ_INT(g.codes[1], 451, "behind it: 451");
	(void)usleep(1100 * 1000);
	memset(&g, 0, sizeof(g));
	kv[3] = "junk@d.test";
	T_EQ_INT(mxk_check_submit(c, kv, 2, &g, &e), 0, "submit junk");
	run(c, &g, 1, 3000);
	T_EQ_INT(g.codes[0], 451, "junk: 451");

	/* A cancelled request gets no callback. */
	(void)usleep(1100 * 1000);
	memset(&g, 0, sizeof(g));
	kv[3] = "ok@d.test";
	T_EQ_INT(mxk_check_submit(c, kv, 2, &g, &e), 0, "submit to cancel");
	mxk_check_cancel(c, &g);
	run(c, &g, 1, 700);
	T_EQ_INT(g.n, 0, "cancelled: no callback");
	T_EQ_INT(mxk_check_pending(c), 0, "cancelled: answered anyway");
	mxk_check_free(c);

	argv[0] = "no-such-program-here";
	T_EQ_INT(mxk_check_new(&p, done, &c, &e), -1, "missing program");
	argv[0] = "/nonexistent/program";
	T_EQ_INT(mxk_check_new(&p, done, &c, &e), -1, "missing path");
	argv[0] = dir;
	T_EQ_INT(mxk_check_new(&p, done, &c, &e), -1, "a directory");
	(void)unlink(path);
	(void)rmdir(dir);
}

int
main(void)
{
	(void)signal(SIGPIPE, SIG_IGN);
	test_encode();
	test_parse();
	test_program();
	return t_done("check");
}

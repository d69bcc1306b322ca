/* ISC license. */

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "t.h"

static void
test_find(void)
{
	char	 dir[] = "/tmp/test_proc.XXXXXX", path[128], out[64], tiny[4];
	int	 fd;

	T_EQ_INT(mxk_proc_find("sh", "/nonexistent::/bin", out, sizeof(out)),
	    0, "sh in the path");
	T_EQ_STR(out, "/bin/sh", "sh found in /bin");
	T_EQ_INT(mxk_proc_find("sh", "::", out, sizeof(out)), -1,
	    "only empty elements");
	T_EQ_INT(errno, ENOENT, "only empty elements: ENOENT");
	T_EQ_INT(mxk_proc_find("", "/bin", out, sizeof(out)), -1, "empty");
	T_EQ_INT(errno, ENOENT, "empty: ENOENT");
	T_EQ_INT(mxk_proc_find("no-such-program-here", "/bin:/usr/bin", out,
	    sizeof(out)), -1, "missing");
	T_EQ_INT(errno, ENOENT, "missing: ENOENT");
	/* A name with a '/' is not looked up, nor checked. */
	T_EQ_INT(mxk_proc_find("./x/y", "/bin", out, sizeof(out)), 0,
	    "a path");
	T_EQ_STR(out, "./x/y", "a path as it is");
	T_EQ_INT(mxk_proc_find("/bin/sh", "/bin", tiny, sizeof(tiny)), -1,
	    "a path too long");
	T_EQ_INT(errno, ENAMETOOLONG, "a path too long: ENAMETOOLONG");
	T_EQ_INT(mxk_proc_find("sh", "/bin", tiny, sizeof(tiny)), -1,
	    "a found path too long");

	if (mkdtemp(dir) == NULL) {
		T_OK(0, "mkdtemp");
		return;
	}
	(void)snprintf(path, sizeof(path), "%s/prog", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	T_OK(fd != -1, "create %s", path);
	if (fd != -1)
		(void)close(fd);
	T_EQ_INT(mxk_proc_find("prog", dir, out, sizeof(out)), -1,
	    "not executable");
	T_EQ_INT(errno, EACCES, "not executable: EACCES");
	T_EQ_INT(mxk_proc_runnable(path), 0, "runnable: mode 644");
	(void)chmod(path, 0755);
	T_EQ_INT(mxk_proc_find("prog", dir, out, sizeof(out)), 0,
	    "executable");
	T_EQ_STR(out, path, "executable: its path");
	T_EQ_INT(mxk_proc_runnable(path), 1, "runnable: mode 755");
	T_EQ_INT(mxk_proc_runnable(dir), 0, "runnable: a directory");
	T_EQ_INT(mxk_proc_runnable("/nonexistent/x"), 0, "runnable: missing");
	(void)unlink(path);
	(void)rmdir(dir);
}

static void
test_fds(void)
{
	int	fd, saved, n, fl;

	T_OK(mxk_proc_maxfd(16) <= 16, "maxfd: at most the cap");
	T_OK(mxk_proc_maxfd(16) > 2, "maxfd: above 2");

	fd = 7;
	T_EQ_INT(mxk_proc_above2(&fd), 0, "above2: 7");
	T_EQ_INT(fd, 7, "above2: 7 stays");

	/* Put /dev/null at 0 for a moment and move it. */
	if ((saved = dup(0)) == -1) {
		T_OK(0, "dup");
		return;
	}
	(void)close(0);
	n = open("/dev/null", O_RDONLY);
	T_EQ_INT(n, 0, "/dev/null at 0");
	fd = n;
	T_EQ_INT(mxk_proc_above2(&fd), 0, "above2: 0");
	T_OK(fd > 2, "above2: 0 moved to %d", fd);
	fl = fcntl(fd, F_GETFD);
	T_OK(fl != -1 && (fl & FD_CLOEXEC), "above2: close-on-exec");
	T_EQ_INT(fcntl(0, F_GETFD), -1, "above2: 0 closed");
	(void)close(fd);
	(void)dup2(saved, 0);
	(void)close(saved);
}

/* What the child's shell reports about itself, and its exit status. */
static int
run(const char *file, char *const argv[], char *out, size_t outlen,
    int *err)
{
	int		 ip[2], op[2], ep[2], fds[2], st, n;
	size_t		 len = 0;
	struct pollfd	 pfd;
	ssize_t		 r;
	pid_t		 pid;
	char		*envp[] = { "FOO=bar", NULL };

	*err = 0;
	out[0] = '\0';
	if (pipe2(ip, O_CLOEXEC) == -1 || pipe2(op, O_CLOEXEC) == -1 ||
	    pipe2(ep, O_CLOEXEC) == -1)
		return -1;
	(void)close(ip[1]);
	fds[0] = ip[0];
	fds[1] = op[1];
	if ((pid = mxk_proc_fork()) == 0)
		mxk_proc_exec(file, argv, envp, fds, 2, 64, ep[1]);
	(void)close(ip[0]);
	(void)close(op[1]);
	(void)close(ep[1]);
	if (pid == -1) {
		(void)close(op[0]);
		(void)close(ep[0]);
		return -1;
	}
	/* At most 10 s, and the buffer. */
	pfd.fd = op[0];
	pfd.events = POLLIN;
	for (n = 0; n < 100 && len + 1 < outlen; n++) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if ((r = read(op[0], out + len, outlen - 1 - len)) <= 0)
			break;
		len += (size_t)r;
	}
	out[len] = '\0';
	if (read(ep[0], err, sizeof(*err)) != sizeof(*err))
		*err = 0;
	(void)close(op[0]);
	(void)close(ep[0]);
	if (len + 1 >= outlen || n == 100)
		(void)kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void
test_exec(void)
{
	static const char script[] =
	    "r=\n"
	    /*
	     * Builtins only: the shell may block signals around a fork.
	     * Signals 32 and 33 are glibc's own (sigaction() refuses them),
	     * left as the test's parent had them.
	     */
	    "while read -r k v; do\n"
	    "	case $k in\n"
	    "	SigIgn:) [ $((0x$v & ~0x180000000)) = 0 ] || r=\"$r ign\" ;;\n"
	    "	SigBlk:) [ $((0x$v & ~0x180000000)) = 0 ] || r=\"$r blk\" ;;\n"
	    "	esac\n"
	    "done < /proc/$$/status\n"
	    "read -r p c s pp g x < /proc/$$/stat\n"
	    "[ \"$g\" = \"$$\" ] || r=\"$r pgrp\"\n"
	    "[ -e /proc/$$/fd/$1 ] && r=\"$r fd$1\"\n"
	    "[ -e /proc/$$/fd/2 ] || r=\"$r nofd2\"\n"
	    "echo \"FOO=$FOO${r:+ bad:$r}\"\n";
	char		 num[16], out[256];
	char		*argv[] = { "sh", "-c", (char *)script, "sh", num, NULL };
	char		*bad[] = { "nothing", NULL };
	sigset_t	 usr1, old, now;
	int		 fd, err;

	/* What the child must not inherit: an ignored signal, a blocked one,
	 * a descriptor without close-on-exec. */
	(void)signal(SIGPIPE, SIG_IGN);
	(void)sigemptyset(&usr1);
	(void)sigaddset(&usr1, SIGUSR1);
	(void)sigprocmask(SIG_BLOCK, &usr1, &old);
	fd = open("/dev/null", O_RDONLY);
	T_OK(fd > 2, "open /dev/null");
	(void)snprintf(num, sizeof(num), "%d", fd);

	T_EQ_INT(run("/bin/sh", argv, out, sizeof(out), &err), 0,
	    "exec: exit status");
	T_EQ_STR(out, "FOO=bar\n", "exec: the child's state");
	T_EQ_INT(err, 0, "exec: nothing on errfd");

	/* The parent's mask is back after the fork. */
	(void)sigprocmask(SIG_SETMASK, NULL, &now);
	T_EQ_INT(sigismember(&now, SIGUSR1), 1, "fork: mask restored");
	T_EQ_INT(sigismember(&now, SIGTERM), 0, "fork: no more blocked");

	T_EQ_INT(run("/nonexistent/nothing", bad, out, sizeof(out), &err),
	    127, "exec failure: 127");
	T_EQ_INT(err, ENOENT, "exec failure: errno on errfd");
	T_EQ_STR(out, "", "exec failure: no output");

	(void)close(fd);
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
}

int
main(void)
{
	test_find();
	test_fds();
	test_exec();
	return t_done("proc");
}

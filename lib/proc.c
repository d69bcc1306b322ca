/* ISC license. */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

int
mxk_proc_runnable(const char *path)
{
	struct stat	st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0;
}

int
mxk_proc_find(const char *prog, const char *path, char *out, size_t outlen)
{
	const char	*s, *c;
	struct stat	 st;
	size_t		 n;
	int		 err = ENOENT;

	if (strchr(prog, '/') != NULL) {
		if ((size_t)snprintf(out, outlen, "%s", prog) >= outlen) {
			errno = ENAMETOOLONG;
			return -1;
		}
		return 0;
	}
	if (prog[0] == '\0') {
		errno = ENOENT;
		return -1;
	}
	for (s = path; ; s = c + 1) {
		c = strchr(s, ':');
		n = c != NULL ? (size_t)(c - s) : strlen(s);
		if (n > 0 && n < outlen && (size_t)snprintf(out, outlen,
		    "%.*s/%s", (int)n, s, prog) < outlen &&
		    stat(out, &st) == 0) {
			if (S_ISREG(st.st_mode) && access(out, X_OK) == 0)
				return 0;
			err = EACCES;
		}
		if (c == NULL)
			break;
	}
	errno = err;
	return -1;
}

int
mxk_proc_maxfd(int cap)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 ||
	    rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)cap)
		return cap;
	return (int)rl.rlim_cur;
}

int
mxk_proc_above2(int *fd)
{
	int	nfd;

	if (*fd > 2)
		return 0;
	if ((nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3)) == -1)
		return -1;
	(void)close(*fd);
	*fd = nfd;
	return 0;
}

pid_t
mxk_proc_fork(void)
{
	sigset_t	all, old;
	pid_t		pid;
	int		saved;

	(void)sigfillset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		return 0;
	saved = errno;
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return pid;
}

void
mxk_proc_exec(const char *file, char *const argv[], char *const envp[],
    const int *fds, int nfds, int maxfd, int errfd)
{
	struct sigaction	sa;
	sigset_t		none;
	ssize_t			n;
	int			sig, fd, i, saved;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	(void)sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	(void)sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	if (setpgid(0, 0) == -1)
		goto fail;
	for (i = 0; i < nfds; i++)
		if (dup2(fds[i], i) == -1)
			goto fail;
#ifdef CLOSE_RANGE_CLOEXEC
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == -1)
#endif
		for (fd = 3; fd < maxfd; fd++)
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	(void)execve(file, argv, envp);
fail:
	if (errfd != -1) {
		saved = errno;
		n = write(errfd, &saved, sizeof(saved));
		(void)n;
	}
	_exit(127);
}

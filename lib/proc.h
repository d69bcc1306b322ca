/* ISC license. */

/*
 * proc: starting a program in a child process, the steps lib/check and
 * lib/store share.  No shell is ever involved.
 *
 * mxk_proc_find() looks a program up as execvp(3) would, skipping empty
 * elements of the search path; a name with a '/' is taken as it is.
 * mxk_proc_runnable() tells whether a path is a regular file this process
 * may execute.
 *
 * A caller builds its pipes, moves the child's ends above 2 with
 * mxk_proc_above2() (so that the dup2() onto 0..2 cannot clobber one
 * another), then calls mxk_proc_fork(): the fork happens with every signal
 * blocked, so that no handler of the parent runs in the child; the parent
 * gets its mask back, the child keeps all blocked until mxk_proc_exec()
 * clears it.
 *
 * mxk_proc_exec() runs in the child, between fork() and execve(), and uses
 * async-signal-safe calls only: every signal disposition back to the
 * default (one ignored by the parent, SIGPIPE, would stay ignored across
 * execve()), the mask cleared, a process group of its own (so that a kill
 * of -pid reaches what the program started), fds[i] onto descriptor i for
 * i < nfds, every descriptor above 2 closed at execve() (close_range(2)
 * where there is one, else a loop up to maxfd).  It does not return: when
 * a step or the execve() fails, the errno goes to errfd (unless it is -1)
 * and the child _exit()s with 127.
 *
 * Functions that can fail return 0 or -1 with errno set.
 */
#ifndef MXK_PROC_H
#define MXK_PROC_H

#include <sys/types.h>
#include <stddef.h>

/*
 * prog in the ':'-separated path into out.  Fails with ENAMETOOLONG
 * (prog with a '/' too long for out), ENOENT (found nowhere, or empty),
 * EACCES (found, but none is a regular executable file).
 */
int	 mxk_proc_find(const char *prog, const char *path, char *out,
	    size_t outlen);
/* 1: a regular file we may execute; 0: not. */
int	 mxk_proc_runnable(const char *path);
/* RLIMIT_NOFILE, or cap when that is larger or unlimited. */
int	 mxk_proc_maxfd(int cap);
/* A descriptor at 0..2 is moved above 2 (close-on-exec) and closed. */
int	 mxk_proc_above2(int *fd);
/* fork() with every signal blocked; errno kept from fork() on failure. */
pid_t	 mxk_proc_fork(void);
void	 mxk_proc_exec(const char *file, char *const argv[],
	    char *const envp[], const int *fds, int nfds, int maxfd, int errfd)
	    __attribute__((noreturn));

#endif

/* ISC license. */

/*
 * cli: what the programs in cmd/ share to read their arguments.
 *
 * mxk_cli_duration() reads a duration: a number of seconds, possibly with
 * a fraction ("30", "1.5"), or a number followed by "ms", "s" or "m"
 * ("500ms", "30s", "2m"), and with MXK_CLI_HOURS "h" too ("1h").  The
 * result is in milliseconds, rounded to the nearest, at most max_ms;
 * zero is a valid duration, refused by the caller where it must be.  On
 * failure it returns -1 and e (class usage) says "not a duration" (no
 * number, a negative one, another unit) or "out of range" (above max_ms),
 * so that a caller can append the text to its own message.
 *
 * mxk_cli_usage() writes a usage error the way every tool does,
 *
 *   PROG: error: MESSAGE
 *   PROG: try 'PROG --help'
 *
 * to f, and returns EX_USAGE.  It never exits: each main.c wraps it in
 *
 *   #define die_usage(...) exit(mxk_cli_usage(stderr, PROG, __VA_ARGS__))
 *
 * This module is in lib/ rather than cmd/common/ because the Makefile
 * links each tool from its own main.o and libmxkit.a alone (so do the
 * ASan builds, valgrind runs and unit tests): here it needs no new rule
 * and the unit tests reach it.  What lib/ must not do, exit, stays in
 * cmd/; what it prints goes only where the program points it, as with
 * mxk_log_sink_stderr().
 */
#ifndef MXK_CLI_H
#define MXK_CLI_H

#include <stdio.h>

#include "err.h"

#define MXK_CLI_HOURS	0x1	/* mxk_cli_duration(): "h" is a unit */

int	 mxk_cli_duration(const char *s, long long max_ms, int flags,
	    long long *ms, struct mxk_err *e);
int	 mxk_cli_usage(FILE *f, const char *prog, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif

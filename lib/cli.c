/* ISC license. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "err.h"

int
mxk_cli_duration(const char *s, long long max_ms, int flags, long long *ms,
    struct mxk_err *e)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	/* !(v >= 0) is true of NaN as well as of a negative number. */
	if (errno != 0 || end == s || !(v >= 0))
		goto bad;
	if (strcmp(end, "ms") == 0)
		;
	else if (*end == '\0' || strcmp(end, "s") == 0)
		v *= 1000;
	else if (strcmp(end, "m") == 0)
		v *= 60000;
	else if ((flags & MXK_CLI_HOURS) && strcmp(end, "h") == 0)
		v *= 3600000;
	else
		goto bad;
	if (v > (double)max_ms)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "out of range");
	*ms = (long long)(v + 0.5);
	return 0;
bad:
	return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
	    "not a duration");
}

int
mxk_cli_usage(FILE *f, const char *prog, const char *fmt, ...)
{
	va_list	ap;

	(void)fprintf(f, "%s: error: ", prog);
	va_start(ap, fmt);
	(void)vfprintf(f, fmt, ap);
	va_end(ap);
	(void)fprintf(f, "\n%s: try '%s --help'\n", prog, prog);
	return EX_USAGE;
}

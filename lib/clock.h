/* ISC license. */

/*
 * clock: monotonic time and absolute deadlines, in milliseconds.
 *
 * Every blocking-style call in lib/ takes an absolute deadline on
 * CLOCK_MONOTONIC (never wall time, which may jump) and waits with poll();
 * mxk_ms_left() turns the deadline into poll()'s timeout argument.  "No
 * deadline" is LLONG_MAX.  Nothing here fails: clock_gettime() on
 * CLOCK_MONOTONIC cannot fail on the systems we support.
 */
#ifndef MXK_CLOCK_H
#define MXK_CLOCK_H

#include <limits.h>

#define MXK_DEADLINE_NONE	LLONG_MAX

/* Milliseconds on CLOCK_MONOTONIC. */
long long	 mxk_now_ms(void);
/* Microseconds on CLOCK_MONOTONIC (short waits: smtpd-lite --busy-poll). */
long long	 mxk_now_us(void);
/* An absolute deadline ms milliseconds from now (ms < 0: none = LLONG_MAX). */
long long	 mxk_deadline_in(long long ms);
/* Milliseconds left before deadline, clamped to [0, INT_MAX], for poll(). */
int		 mxk_ms_left(long long deadline);

#endif

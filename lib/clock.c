/* ISC license. */

#include <limits.h>
#include <time.h>

#include "clock.h"

long long
mxk_now_us(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return 0;
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

long long
mxk_now_ms(void)
{
	return mxk_now_us() / 1000;
}

long long
mxk_deadline_in(long long ms)
{
	long long	now;

	if (ms < 0)
		return MXK_DEADLINE_NONE;
	now = mxk_now_ms();
	if (ms >= LLONG_MAX - now)
		return MXK_DEADLINE_NONE;
	return now + ms;
}

int
mxk_ms_left(long long deadline)
{
	long long	left;

	if (deadline == MXK_DEADLINE_NONE)
		return INT_MAX;
	left = deadline - mxk_now_ms();
	if (left <= 0)
		return 0;
	if (left > INT_MAX)
		return INT_MAX;
	return (int)left;
}

/* ISC license. */

/*
 * A tiny table-driven test harness: each unit test binary includes this,
 * checks with T_OK / T_EQ_INT / T_EQ_STR, and returns t_done(), which prints
 * "N passed, N failed" and gives the exit status.
 */
#ifndef MXK_T_H
#define MXK_T_H

#include <stdio.h>
#include <string.h>

static int	t_pass, t_fail;

#define T_OK(cond, ...) do {						\
	if (cond)							\
		t_pass++;						\
	else {								\
		t_fail++;						\
		(void)fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
		(void)fprintf(stderr, __VA_ARGS__);			\
		(void)fputc('\n', stderr);				\
	}								\
} while (0)

#define T_EQ_INT(got, want, name) do {					\
	long long t_g_ = (long long)(got), t_w_ = (long long)(want);	\
	T_OK(t_g_ == t_w_, "%s: got %lld, want %lld", (name), t_g_, t_w_); \
} while (0)

#define T_EQ_STR(got, want, name) do {					\
	const char *t_g_ = (got), *t_w_ = (want);			\
	T_OK(t_g_ != NULL && t_w_ != NULL && strcmp(t_g_, t_w_) == 0,	\
	    "%s: got \"%s\", want \"%s\"", (name),			\
	    t_g_ ? t_g_ : "(null)", t_w_ ? t_w_ : "(null)");		\
} while (0)

static int
t_done(const char *suite)
{
	(void)printf("%s: %d passed, %d failed\n", suite, t_pass, t_fail);
	return t_fail == 0 ? 0 : 1;
}

#endif

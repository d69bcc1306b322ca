/* ISC license. */

/*
 * b64: base64 (RFC 4648 §4, the standard alphabet) as SMTP AUTH carries
 * it (RFC 4954 §4), for the client and the server engines.  Decoding is
 * strict about what it reads: letters of the alphabet, then '=' padding
 * only at the end; no white space, no NUL.
 */
#ifndef MXK_B64_H
#define MXK_B64_H

#include <sys/types.h>
#include <stddef.h>

/* in[0..len) into out, NUL-terminated; -1 when it does not fit. */
int	 mxk_b64_encode(const unsigned char *in, size_t len, char *out,
	    size_t outlen);
/* in[0..len) into out; the length, or -1 when it is not base64 or does
 * not fit. */
ssize_t	 mxk_b64_decode(const char *in, size_t len, unsigned char *out,
	    size_t outlen);

#endif

/* ISC license. */

#include <string.h>

#include "b64.h"

static const char abc[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
mxk_b64_encode(const unsigned char *in, size_t len, char *out, size_t outlen)
{
	size_t	i, o = 0;

	if ((len + 2) / 3 * 4 + 1 > outlen)
		return -1;
	for (i = 0; i + 2 < len; i += 3) {
		out[o++] = abc[in[i] >> 2];
		out[o++] = abc[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = abc[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		out[o++] = abc[in[i + 2] & 63];
	}
	if (i < len) {
		out[o++] = abc[in[i] >> 2];
		if (i + 1 < len) {
			out[o++] = abc[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
			out[o++] = abc[(in[i + 1] & 15) << 2];
		} else {
			out[o++] = abc[(in[i] & 3) << 4];
			out[o++] = '=';
		}
		out[o++] = '=';
	}
	out[o] = '\0';
	return 0;
}

ssize_t
mxk_b64_decode(const char *in, size_t len, unsigned char *out, size_t outlen)
{
	const char	*q;
	unsigned	 acc = 0;
	size_t		 i, o = 0;
	int		 bits = 0, pad = 0;

	for (i = 0; i < len; i++) {
		if (in[i] == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || in[i] == '\0' ||
		    (q = strchr(abc, in[i])) == NULL)
			return -1;
		acc = (acc << 6) | (unsigned)(q - abc);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outlen)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return (ssize_t)o;
}

/* ISC license. */

#include <stdio.h>
#include <string.h>

#include "b64.h"
#include "t.h"

/* RFC 4648 §10. */
static const char *const vec[][2] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static ssize_t
dec(const char *in, unsigned char *out, size_t outlen)
{
	return mxk_b64_decode(in, strlen(in), out, outlen);
}

int
main(void)
{
	unsigned char	raw[300], back[300];
	char		enc[512];
	size_t		i;
	ssize_t		n;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		T_EQ_INT(mxk_b64_encode((const unsigned char *)vec[i][0],
		    strlen(vec[i][0]), enc, sizeof(enc)), 0, vec[i][0]);
		T_EQ_STR(enc, vec[i][1], "encode");
		n = dec(vec[i][1], back, sizeof(back));
		T_OK(n == (ssize_t)strlen(vec[i][0]) &&
		    memcmp(back, vec[i][0], (size_t)n) == 0, "decode %s",
		    vec[i][1]);
	}
	/* Every octet value, every length up to 256, round trip. */
	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 7 + 3);
	for (i = 0; i <= 256; i++) {
		if (mxk_b64_encode(raw, i, enc, sizeof(enc)) == -1 ||
		    dec(enc, back, sizeof(back)) != (ssize_t)i ||
		    memcmp(raw, back, i) != 0)
			break;
	}
	T_EQ_INT(i, 257, "round trips");
	/* AUTH PLAIN's NUL separators survive. */
	T_EQ_INT(dec("AGFsaWNlAHMzY3JldA==", back, sizeof(back)), 13,
	    "PLAIN");
	T_OK(memcmp(back, "\0alice\0s3cret", 13) == 0, "PLAIN octets");

	/* Room: the encoding needs 4 per 3 and a NUL. */
	T_EQ_INT(mxk_b64_encode((const unsigned char *)"foo", 3, enc, 5), 0,
	    "fits exactly");
	T_EQ_INT(mxk_b64_encode((const unsigned char *)"foo", 3, enc, 4), -1,
	    "no room for the NUL");
	T_EQ_INT(dec("Zm9vYmFy", back, 6), 6, "decode fits exactly");
	T_EQ_INT(dec("Zm9vYmFy", back, 5), -1, "decode too long");

	/* Not base64. */
	T_EQ_INT(dec("Zm9v YmFy", back, sizeof(back)), -1, "space");
	T_EQ_INT(dec("Zm9v\r\n", back, sizeof(back)), -1, "line end");
	T_EQ_INT(dec("Zm9v-_", back, sizeof(back)), -1, "base64url");
	T_EQ_INT(dec("Zg==Zg==", back, sizeof(back)), -1, "data after '='");
	T_EQ_INT(mxk_b64_decode("Zm\0v", 4, back, sizeof(back)), -1, "NUL");
	T_EQ_INT(dec("*", back, sizeof(back)), -1, "'*' (AUTH cancel)");

	return t_done("test_b64");
}

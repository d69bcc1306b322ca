/* ISC license. */

#include <sys/types.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "t.h"

/* Feed in through a pipe (the spooled path, when small) or a regular
 * file (read directly), and read the normalised form back. */
static int	use_pipe;

static int
run(const char *in, size_t inlen, const struct mxk_msg_params *p,
    char *out, size_t outlen, size_t *got, struct mxk_msg **mp,
    struct mxk_err *e)
{
	char		 path[] = "/tmp/mxkit-test-msg.XXXXXX";
	struct mxk_msg	*m;
	ssize_t		 n;
	size_t		 off = 0;
	int		 fd, pv[2];

	*got = 0;
	*mp = NULL;
	if (use_pipe && inlen < 32768) {
		if (pipe(pv) == -1)
			return -2;
		if (write(pv[1], in, inlen) != (ssize_t)inlen) {
			(void)close(pv[0]);
			(void)close(pv[1]);
			return -2;
		}
		(void)close(pv[1]);
		fd = pv[0];
	} else {
		if ((fd = mkstemp(path)) == -1)
			return -2;
		(void)unlink(path);
		if (write(fd, in, inlen) != (ssize_t)inlen ||
		    lseek(fd, 0, SEEK_SET) == -1) {
			(void)close(fd);
			return -2;
		}
	}
	if (mxk_msg_read(fd, p, &m, e) == -1) {
		(void)close(fd);
		return -1;
	}
	(void)close(fd);
	while ((n = mxk_msg_read_chunk(m, out + off, outlen - off - 1,
	    e)) > 0)
		off += (size_t)n;
	out[off] = '\0';
	*got = off;
	*mp = m;
	return 0;
}

static int
collect(void *arg, const char *a, size_t len)
{
	char	*buf = arg;
	size_t	 n = strlen(buf);

	if (n > 0)
		buf[n++] = '|';
	memcpy(buf + n, a, len);
	buf[n + len] = '\0';
	return 0;
}

int
main(void)
{
	static const struct {
		const char	*name;
		const char	*in;
		const char	*want;
		int		 eightbit;
	} norm[] = {
		{ "crlf kept", "a\r\nb\r\n", "a\r\nb\r\n", 0 },
		{ "bare lf", "a\nb\n", "a\r\nb\r\n", 0 },
		{ "bare cr", "a\rb\r", "a\r\nb\r\n", 0 },
		{ "mixed", "a\r\nb\nc\rd", "a\r\nb\r\nc\r\nd\r\n", 0 },
		{ "no final newline", "x", "x\r\n", 0 },
		{ "empty", "", "", 0 },
		{ "cr cr lf", "a\r\r\nb", "a\r\n\r\nb\r\n", 0 },
		{ "8bit", "caf\xc3\xa9\n", "caf\xc3\xa9\r\n", 1 },
		{ "dots untouched", ".\n..x\n", ".\r\n..x\r\n", 0 },
		{ "crlf, dots", ".a\r\n.\r\nb\r\nc.\r\n..\r\n",
		    ".a\r\n.\r\nb\r\nc.\r\n..\r\n", 0 },
		{ "dot after a bare cr", "a\r.b\n", "a\r\n.b\r\n", 0 },
		{ "no dot at a line start", "a.\r\nb. c\r\n",
		    "a.\r\nb. c\r\n", 0 },
		{ "empty body", "Subject: x\n\n", "Subject: x\r\n\r\n", 0 },
	};
	static const struct {
		const char	*name;
		const char	*in;
		const char	*want;
		int		 count;
	} lists[] = {
		{ "one", "a@b.test", "a@b.test", 1 },
		{ "two", "a@b.test, c@d.test", "a@b.test|c@d.test", 2 },
		{ "display names", "\"A, B\" <a@b.test>, C <c@d.test>",
		    "a@b.test|c@d.test", 2 },
		{ "comments", "(me) a@b.test (x), c@d.test", "a@b.test|c@d.test",
		    2 },
		{ "group", "friends: a@b.test, c@d.test;", "a@b.test|c@d.test",
		    2 },
		{ "undisclosed", "undisclosed-recipients:;", "", 0 },
		{ "folded", "a@b.test,\r\n\tc@d.test", "a@b.test|c@d.test", 2 },
		{ "empty", "", "", 0 },
		{ "quoted local", "\"x y\"@b.test", "\"x y\"@b.test", 1 },
	};
	struct mxk_msg_params	 p;
	struct mxk_msg		*m;
	struct mxk_err		 e;
	char			 out[8192], buf[512], big[2100];
	size_t			 i, got, o;
	int			 bol, rc;

	for (i = 0; i < 2 * sizeof(norm) / sizeof(norm[0]); i++) {
		use_pipe = i >= sizeof(norm) / sizeof(norm[0]);
		if (use_pipe)
			i -= sizeof(norm) / sizeof(norm[0]);
		memset(&p, 0, sizeof(p));
		rc = run(norm[i].in, strlen(norm[i].in), &p, out, sizeof(out),
		    &got, &m, &e);
		T_EQ_INT(rc, 0, norm[i].name);
		T_EQ_STR(out, norm[i].want, norm[i].name);
		if (m != NULL) {
			T_EQ_INT(mxk_msg_size(m), strlen(norm[i].want),
			    norm[i].name);
			T_EQ_INT(mxk_msg_8bit(m), norm[i].eightbit,
			    norm[i].name);
			/* Rewind and read again: the same octets. */
			T_EQ_INT(mxk_msg_rewind(m, &e), 0, norm[i].name);
			{
				ssize_t	k;
				size_t	tot = 0;

				while ((k = mxk_msg_read_chunk(m, buf + tot,
				    sizeof(buf) - tot, &e)) > 0)
					tot += (size_t)k;
				T_EQ_INT(tot, strlen(norm[i].want),
				    norm[i].name);
			}
			/* In small pieces (BDAT asks for exact counts): a
			 * piece is filled whole until the end, and a CRLF
			 * may be split across two. */
			{
				static const size_t	pieces[] = { 1, 2, 3, 5 };
				size_t			k, tot, q;
				ssize_t			r;
				int			short_piece, pbol, dots;
				int			has_dot;

				has_dot = norm[i].want[0] == '.' ||
				    strstr(norm[i].want, "\n.") != NULL;

				for (k = 0; k < 4; k++) {
					(void)mxk_msg_rewind(m, &e);
					tot = 0;
					short_piece = dots = 0;
					pbol = 1;
					while (tot + pieces[k] < sizeof(buf) &&
					    (r = mxk_msg_read_chunk(m, buf + tot,
					    pieces[k], &e)) > 0) {
						if (short_piece)
							short_piece = 2;
						else if ((size_t)r < pieces[k])
							short_piece = 1;
						/* No dot said: none at a line
						 * start in this piece. */
						for (q = 0; !mxk_msg_dots(m) &&
						    q < (size_t)r; q++)
							T_OK(!((q == 0 ? pbol :
							    buf[tot + q - 1] ==
							    '\n') && buf[tot + q] ==
							    '.'), "%s: piece %zu: "
							    "a dot not told",
							    norm[i].name,
							    pieces[k]);
						dots |= mxk_msg_dots(m);
						tot += (size_t)r;
						pbol = buf[tot - 1] == '\n';
					}
					T_OK(!has_dot || dots, "%s: dots",
					    norm[i].name);
					buf[tot] = '\0';
					T_EQ_STR(buf, norm[i].want, norm[i].name);
					T_OK(short_piece < 2, "%s: piece %zu: "
					    "a short read before the end",
					    norm[i].name, pieces[k]);
				}
			}
			mxk_msg_free(m);
		}
		if (use_pipe)
			i += sizeof(norm) / sizeof(norm[0]);
	}
	use_pipe = 1;

	/* Line limits: 998 octets pass, 999 fail with the line number. */
	memset(big, 'x', sizeof(big));
	memcpy(big, "a\n", 2);
	big[2 + 998] = '\n';
	memset(&p, 0, sizeof(p));
	rc = run(big, 2 + 999, &p, out, sizeof(out), &got, &m, &e);
	T_EQ_INT(rc, 0, "998 octets");
	mxk_msg_free(m);
	big[2 + 998] = 'x';
	big[2 + 999] = '\n';
	rc = run(big, 2 + 1000, &p, out, sizeof(out), &got, &m, &e);
	T_EQ_INT(rc, -1, "999 octets");
	T_EQ_INT(e.class, MXK_ERR_DATA, "999 octets: class");
	T_OK(strstr(e.msg, "line 2") != NULL, "999 octets: %s", e.msg);
	p.max_line = 10;
	rc = run("0123456789a\n", 12, &p, out, sizeof(out), &got, &m, &e);
	T_EQ_INT(rc, -1, "max_line 10");
	p.max_line = 0;
	p.max_size = 5;
	rc = run("abcdef\n", 7, &p, out, sizeof(out), &got, &m, &e);
	T_EQ_INT(rc, -1, "max_size");

	/* sendmail: a lone dot ends the input. */
	memset(&p, 0, sizeof(p));
	p.dot_ends = 1;
	rc = run("S: x\n\na\n.\nb\n", 12, &p, out, sizeof(out), &got, &m, &e);
	T_EQ_INT(rc, 0, "dot_ends");
	T_EQ_STR(out, "S: x\r\n\r\na\r\n", "dot_ends content");
	mxk_msg_free(m);
	p.dot_ends = 0;
	rc = run("a\n.\nb\n", 6, &p, out, sizeof(out), &got, &m, &e);
	T_EQ_STR(out, "a\r\n.\r\nb\r\n", "dot kept without dot_ends");
	mxk_msg_free(m);

	/* -t: recipients from To, Cc, Bcc; Bcc removed; folding. */
	memset(&p, 0, sizeof(p));
	p.extract_rcpts = 1;
	rc = run("To: a@x.test,\n b@x.test\nCc: C <c@x.test>\nBcc: d@x.test\n"
	    "Subject: s\n\nTo: not@header.test\n", 86, &p, out, sizeof(out),
	    &got, &m, &e);
	T_EQ_INT(rc, 0, "-t");
	if (m != NULL) {
		T_EQ_INT(mxk_msg_nrcpts(m), 4, "-t count");
		T_EQ_STR(mxk_msg_rcpt(m, 0), "a@x.test", "-t 0");
		T_EQ_STR(mxk_msg_rcpt(m, 1), "b@x.test", "-t 1 (folded)");
		T_EQ_STR(mxk_msg_rcpt(m, 2), "c@x.test", "-t 2");
		T_EQ_STR(mxk_msg_rcpt(m, 3), "d@x.test", "-t 3 (bcc)");
		T_OK(strstr(out, "Bcc") == NULL, "Bcc removed: %s", out);
		T_OK(strstr(out, "To: a@x.test,\r\n b@x.test\r\n") != NULL,
		    "To kept folded");
		T_OK(strstr(out, "To: not@header.test") != NULL, "body kept");
		T_EQ_INT(mxk_msg_has_header(m, "subject"), 1, "has subject");
		T_EQ_INT(mxk_msg_has_header(m, "from"), 0, "no from");
		mxk_msg_free(m);
	}
	/* RFC 5322 §4.5: "Name :" is a field; the Bcc after it too. */
	{
		static const char obs[] = "X-Old : y\nCc\t: c@x.test\n"
		    "Bcc: d@x.test\nSubject: s\n\nb\n";

		memset(&p, 0, sizeof(p));
		p.extract_rcpts = 1;
		rc = run(obs, sizeof(obs) - 1, &p, out, sizeof(out), &got, &m,
		    &e);
		T_EQ_INT(rc, 0, "-t, obsolete field syntax");
		if (m != NULL) {
			T_EQ_INT(mxk_msg_nrcpts(m), 2, "-t obs count");
			T_EQ_STR(mxk_msg_rcpt(m, 0), "c@x.test", "-t obs cc");
			T_EQ_STR(mxk_msg_rcpt(m, 1), "d@x.test", "-t obs bcc");
			T_OK(strstr(out, "Bcc") == NULL, "obs: Bcc removed: %s",
			    out);
			T_EQ_INT(mxk_msg_has_header(m, "subject"), 1,
			    "obs: subject in the header");
			mxk_msg_free(m);
		}
	}
	/* -t: a line that is no field ends the header; a Bcc below it
	 * would be shown to all, so the message is refused. */
	{
		static const char leak[] = "To: a@x.test\nX-T\xc3\xa9st: 1\n"
		    "Bcc: b@x.test\n\nbody\n";
		static const char ok1[] = "To: a@x.test\nhello\nBccs: no\n"
		    "x Bcc: no\n";

		memset(&p, 0, sizeof(p));
		p.extract_rcpts = 1;
		use_pipe = 0;
		rc = run(leak, sizeof(leak) - 1, &p, out, sizeof(out), &got,
		    &m, &e);
		T_EQ_INT(rc, -1, "-t: a Bcc after the header's odd end");
		T_EQ_INT(e.class, MXK_ERR_DATA, "-t odd end: data error");
		T_OK(strstr(e.msg, "line 2") != NULL && strstr(e.msg,
		    "line 3") != NULL, "-t odd end: says where: %s", e.msg);
		use_pipe = 1;
		rc = run(leak, sizeof(leak) - 1, &p, out, sizeof(out), &got,
		    &m, &e);
		T_EQ_INT(rc, -1, "-t: a Bcc after the odd end (pipe)");
		rc = run(ok1, sizeof(ok1) - 1, &p, out, sizeof(out), &got, &m,
		    &e);
		T_EQ_INT(rc, 0, "-t: an odd end without a Bcc below");
		if (m != NULL) {
			T_EQ_INT(mxk_msg_nrcpts(m), 1, "-t odd end: one rcpt");
			T_OK(strstr(out, "hello\r\nBccs: no\r\nx Bcc: no\r\n")
			    != NULL, "-t odd end: the body kept: %s", out);
			mxk_msg_free(m);
		}
		memset(&p, 0, sizeof(p));
		rc = run(leak, sizeof(leak) - 1, &p, out, sizeof(out), &got,
		    &m, &e);
		T_EQ_INT(rc, 0, "without -t the same message goes");
		mxk_msg_free(m);
		use_pipe = 0;
	}
	/* add_from: only when there is no From. */
	memset(&p, 0, sizeof(p));
	p.add_from = "Me <me@x.test>";
	rc = run("Subject: s\n\nb\n", 14, &p, out, sizeof(out), &got, &m, &e);
	T_OK(strstr(out, "From: Me <me@x.test>\r\n\r\nb") != NULL,
	    "From added: %s", out);
	mxk_msg_free(m);
	rc = run("From: x@y.test\n\nb\n", 18, &p, out, sizeof(out), &got, &m,
	    &e);
	T_OK(strstr(out, "Me <me") == NULL, "From not added twice");
	mxk_msg_free(m);
	p.add_from = "bad\r\nInjected: yes";
	rc = run("Subject: s\n\nb\n", 14, &p, out, sizeof(out), &got, &m, &e);
	T_EQ_INT(rc, -1, "From with CRLF refused");

	/* Dot-stuffing, across chunk boundaries. */
	bol = 1;
	o = mxk_msg_dotstuff(".a\r\n", 4, buf, &bol);
	o += mxk_msg_dotstuff(".", 1, buf + o, &bol);
	o += mxk_msg_dotstuff("\r\nb.\r\n.", 7, buf + o, &bol);
	buf[o] = '\0';
	T_EQ_STR(buf, "..a\r\n..\r\nb.\r\n..", "dotstuff");
	bol = 0;
	o = mxk_msg_dotstuff(".x", 2, buf, &bol);
	buf[o] = '\0';
	T_EQ_STR(buf, ".x", "dotstuff mid-line");

	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		buf[0] = '\0';
		rc = mxk_msg_addr_list(lists[i].in, strlen(lists[i].in),
		    collect, buf);
		T_EQ_INT(rc, lists[i].count, lists[i].name);
		T_EQ_STR(buf, lists[i].want, lists[i].name);
	}
	/* Over the in-memory limit: the message moves to a file, intact. */
	{
		static char	 in2[3 * 1024 * 1024 + 100];
		size_t		 len = 0, tot = 0;
		char		 rb[65536];
		ssize_t		 k;
		int		 same = 1;

		while (len + 100 < sizeof(in2)) {
			memcpy(in2 + len, "0123456789abcdefghij\n", 21);
			len += 21;
		}
		memset(&p, 0, sizeof(p));
		rc = run(in2, len, &p, out, 2, &got, &m, &e);
		T_EQ_INT(rc, 0, "3 MiB");
		if (m != NULL) {
			T_EQ_INT(mxk_msg_size(m), len / 21 * 22, "3 MiB size");
			(void)mxk_msg_rewind(m, &e);
			while ((k = mxk_msg_read_chunk(m, rb, sizeof(rb),
			    &e)) > 0) {
				ssize_t q;

				for (q = 0; q < k; q++)
					if (rb[q] != "0123456789abcdefghij"
					    "\r\n"[(tot + (size_t)q) % 22])
						same = 0;
				tot += (size_t)k;
			}
			T_EQ_INT(tot, len / 21 * 22, "3 MiB read back");
			T_EQ_INT(same, 1, "3 MiB content");
			mxk_msg_free(m);
		}
	}
	/*
	 * A file already in CR LF form is sent as read, and checked as it
	 * is read: changed since the scan to hold a bare LF, it fails
	 * rather than put the bare LF on the wire.
	 */
	{
		static const char	 crlf[] = "Subject: t\r\n\r\na\r\n.b\r\n";
		char			 path[] = "/tmp/mxkit-test-msg.XXXXXX";
		char			 rb[64];
		ssize_t			 k;
		size_t			 tot = 0;
		int			 fd;

		if ((fd = mkstemp(path)) != -1) {
			(void)unlink(path);
			m = NULL;
			if (write(fd, crlf, sizeof(crlf) - 1) ==
			    (ssize_t)(sizeof(crlf) - 1) &&
			    lseek(fd, 0, SEEK_SET) == 0)
				(void)mxk_msg_read(fd, NULL, &m, &e);
			T_OK(m != NULL, "CR LF file read");
			if (m != NULL) {
				T_EQ_INT(mxk_msg_size(m), sizeof(crlf) - 1,
				    "CR LF file: size");
				while ((k = mxk_msg_read_chunk(m, rb + tot,
				    sizeof(rb) - 1 - tot, &e)) > 0)
					tot += (size_t)k;
				rb[tot] = '\0';
				T_EQ_STR(rb, crlf, "CR LF file: as is");
				T_EQ_INT(pwrite(fd, "x\n", 2, 16), 2,
				    "change the file");
				(void)mxk_msg_rewind(m, &e);
				mxk_err_clear(&e);
				while ((k = mxk_msg_read_chunk(m, rb, 5,
				    &e)) > 0)
					;
				T_EQ_INT(k, -1, "changed file: refused");
				T_EQ_INT(e.class, MXK_ERR_IO,
				    "changed file: I/O error");
				/* As it was, but cut in its last line. */
				T_EQ_INT(pwrite(fd, "\n.", 2, 16), 2,
				    "change it back");
				T_EQ_INT(ftruncate(fd, 19), 0, "truncate");
				(void)mxk_msg_rewind(m, &e);
				while ((k = mxk_msg_read_chunk(m, rb,
				    sizeof(rb), &e)) > 0)
					;
				T_EQ_INT(k, -1, "truncated file: refused");
				mxk_msg_free(m);
			}
			(void)close(fd);
		}
	}
	/*
	 * NUL and 8-bit octets are seen wherever they are: in the header
	 * or the body, in a 16-octet block of the fast scan or in its
	 * tail, before or after a line end in the block; through a pipe
	 * and from a file.
	 */
	memset(&p, 0, sizeof(p));
	for (use_pipe = 0; use_pipe <= 1; use_pipe++) {
		size_t	len, at, k;

		for (len = 1; len <= 40; len += 3)
			for (at = 0; at < len; at++)
				for (k = 0; k < 3; k++) {
					char	in[128], nm[96];
					size_t	hl = strlen("Subject: x\n\n");
					char	c = k == 0 ? '\0' : k == 1 ?
						    '\xe9' : 'z';

					memcpy(in, "Subject: x\n\n", hl);
					memset(in + hl, 'a', len);
					in[hl + len] = '\n';
					in[hl + len + 1] = 'b';
					in[hl + (at == len - 1 ? len + 1 :
					    at)] = c;
					(void)snprintf(nm, sizeof(nm), "octet "
					    "%zu at %zu of %zu (pipe %d)", k, at,
					    len, use_pipe);
					rc = run(in, hl + len + 2, &p, out,
					    sizeof(out), &got, &m, &e);
					T_EQ_INT(rc, 0, nm);
					if (m == NULL)
						continue;
					T_EQ_INT(mxk_msg_nul(m), k == 0, nm);
					T_EQ_INT(mxk_msg_8bit(m), k == 1, nm);
					mxk_msg_free(m);
				}
		{
			static const char hdr[] = "Subject: a\0b\n\nbody\n";

			rc = run(hdr, sizeof(hdr) - 1, &p, out, sizeof(out),
			    &got, &m, &e);
			T_EQ_INT(rc, 0, "NUL in the header");
			if (m != NULL) {
				T_EQ_INT(mxk_msg_nul(m), 1, "NUL in the header");
				mxk_msg_free(m);
			}
		}
	}
	return t_done("test_msg");
}

/* ISC license. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "net.h"
#include "reply.h"
#include "smtpc.h"

#define READ_CHUNK	4096

static int
keyword(const char *line, size_t len, const char *kw, const char **arg)
{
	size_t	n = strlen(kw);

	if (len < n || strncasecmp(line, kw, n) != 0)
		return 0;
	if (len == n) {
		*arg = line + n;
		return 1;
	}
	if (line[n] != ' ' && line[n] != '=')
		return 0;
	*arg = line + n + 1;
	return 1;
}

void
mxk_ehlo_parse(const struct mxk_reply *r, struct mxk_ehlo *c)
{
	const char	*p = r->text, *nl, *arg;
	size_t		 len, i;
	int		 first = 1;

	memset(c, 0, sizeof(*c));
	c->esmtp = r->code == 250;
	for (; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
		nl = p + strcspn(p, "\n");
		len = (size_t)(nl - p);
		if (first) {
			first = 0;
			i = strcspn(p, " \n");
			if (i >= sizeof(c->name))
				i = sizeof(c->name) - 1;
			memcpy(c->name, p, i);
			c->name[i] = '\0';
			continue;
		}
		if (keyword(p, len, "STARTTLS", &arg))
			c->starttls = 1;
		else if (keyword(p, len, "PIPELINING", &arg))
			c->pipelining = 1;
		else if (keyword(p, len, "CHUNKING", &arg))
			c->chunking = 1;
		else if (keyword(p, len, "BINARYMIME", &arg))
			c->binarymime = 1;
		else if (keyword(p, len, "8BITMIME", &arg))
			c->eightbitmime = 1;
		else if (keyword(p, len, "SMTPUTF8", &arg))
			c->smtputf8 = 1;
		else if (keyword(p, len, "DSN", &arg))
			c->dsn = 1;
		else if (keyword(p, len, "ENHANCEDSTATUSCODES", &arg))
			c->enhancedstatus = 1;
		else if (keyword(p, len, "SIZE", &arg)) {
			char	num[32], *end;
			size_t	n = (size_t)(nl - arg);

			c->size = 1;
			if (n > 0 && n < sizeof(num)) {
				memcpy(num, arg, n);
				num[n] = '\0';
				c->size_max = strtoull(num, &end, 10);
				if (*end != '\0' || num[0] == '-')
					c->size_max = 0;
			}
		} else if (keyword(p, len, "AUTH", &arg)) {
			size_t n = (size_t)(nl - arg), have = strlen(c->auth);

			/* "AUTH=LOGIN" (old) and "AUTH LOGIN PLAIN" both. */
			if (have > 0 && have + 1 < sizeof(c->auth))
				c->auth[have++] = ' ';
			for (i = 0; i < n && have + 1 < sizeof(c->auth); i++) {
				char ch = arg[i];

				if (ch >= 'a' && ch <= 'z')
					ch = (char)(ch - 'a' + 'A');
				c->auth[have++] = ch;
			}
			c->auth[have] = '\0';
		}
	}
}

int
mxk_ehlo_has_auth(const struct mxk_ehlo *c, const char *mech)
{
	const char	*p = c->auth;
	size_t		 n = strlen(mech), w;

	while (*p != '\0') {
		w = strcspn(p, " ");
		if (w == n && strncasecmp(p, mech, n) == 0)
			return 1;
		p += w;
		while (*p == ' ')
			p++;
	}
	return 0;
}

void
mxk_smtpc_io_init(struct mxk_smtpc_io *io, struct mxk_conn *conn,
    const struct mxk_reply_params *rp)
{
	memset(io, 0, sizeof(*io));
	io->conn = conn;
	if (rp != NULL)
		io->rp = *rp;
	mxk_buf_init(&io->in, io->rp.max > 0 ? 2 * io->rp.max : 128 * 1024);
}

void
mxk_smtpc_io_free(struct mxk_smtpc_io *io)
{
	mxk_buf_free(&io->in);
}

static void
log_reply_lines(struct mxk_smtpc_io *io, const char *p, size_t len)
{
	const char	*lf;
	size_t		 n;

	if (!mxk_log_enabled(MXK_LOG_INFO))
		return;
	while (len > 0) {
		lf = memchr(p, '\n', len);
		n = lf != NULL ? (size_t)(lf - p) + 1 : len;
		mxk_log_proto(&io->ts, MXK_PROTO_SERVER, p, n, NULL, 0);
		p += n;
		len -= n;
	}
}

int
mxk_smtpc_read(struct mxk_smtpc_io *io, struct mxk_reply *r,
    long long deadline, struct mxk_err *e)
{
	size_t	 used;
	ssize_t	 n;
	char	*space;
	int	 got;

	for (;;) {
		got = mxk_reply_parse(io->in.p != NULL ? io->in.p : "",
		    io->in.len, &io->rp, r, &used, e);
		if (got == 1) {
			log_reply_lines(io, io->in.p, used);
			mxk_buf_consume(&io->in, used);
			return 1;
		}
		if (got == -1)
			return -1;
		if ((space = mxk_buf_space(&io->in, READ_CHUNK)) == NULL)
			return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_SMTP,
			    "5.5.0", "reply too long");
		n = mxk_conn_read(io->conn, space, READ_CHUNK, deadline, e);
		if (n < 0)
			return -1;
		if (n == 0)
			return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_NET,
			    "4.4.2", "connection closed by the server");
		mxk_buf_commit(&io->in, (size_t)n);
	}
}

int
mxk_smtpc_send(struct mxk_smtpc_io *io, const char *line, long long deadline,
    struct mxk_err *e)
{
	char	buf[2048];
	size_t	n = strlen(line);

	/* Never build a command from data holding CR or LF. */
	if (strpbrk(line, "\r\n") != NULL)
		return mxk_err_set(e, MXK_ERR_DATA, MXK_SRC_LOCAL, "5.5.2",
		    "refusing to send a command containing CR or LF");
	if (n + 2 > sizeof(buf))
		return mxk_err_set(e, MXK_ERR_DATA, MXK_SRC_LOCAL, "5.5.2",
		    "command longer than %zu octets", sizeof(buf) - 2);
	memcpy(buf, line, n);
	buf[n++] = '\r';
	buf[n++] = '\n';
	mxk_log_proto(&io->ts, MXK_PROTO_CLIENT, buf, n, NULL, 0);
	return mxk_conn_write_all(io->conn, buf, n, deadline, e);
}

int
mxk_smtpc_cmd(struct mxk_smtpc_io *io, const char *line, struct mxk_reply *r,
    long long deadline, struct mxk_err *e)
{
	if (mxk_smtpc_send(io, line, deadline, e) == -1)
		return -1;
	return mxk_smtpc_read(io, r, deadline, e);
}

int
mxk_smtpc_ehlo(struct mxk_smtpc_io *io, const char *name,
    struct mxk_ehlo *caps, struct mxk_reply *r, long long deadline,
    struct mxk_err *e)
{
	char	line[512], first[256];

	if (snprintf(line, sizeof(line), "EHLO %s", name) >= (int)sizeof(line))
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "EHLO name too long");
	if (mxk_smtpc_cmd(io, line, r, deadline, e) == -1)
		return -1;
	if (r->code == 250) {
		mxk_ehlo_parse(r, caps);
		return 1;
	}
	if (r->code / 100 == 5) {
		/* RFC 5321 §3.2: an old server; try HELO. */
		(void)snprintf(line, sizeof(line), "HELO %s", name);
		if (mxk_smtpc_cmd(io, line, r, deadline, e) == -1)
			return -1;
		if (r->code == 250) {
			memset(caps, 0, sizeof(*caps));
			return 1;
		}
	}
	(void)mxk_err_smtp(e, r->code, r->status, MXK_ERR_PERM,
	    mxk_reply_first_line(r, first, sizeof(first)));
	mxk_err_prefix(e, "EHLO refused: %d %s", r->code, r->status);
	return -1;
}

int
mxk_smtpc_drop_plaintext(struct mxk_smtpc_io *io)
{
	if (io->in.len == 0)
		return 0;
	mxk_log(MXK_LOG_WARN, "discarding %zu octets the server sent before "
	    "the TLS handshake", io->in.len);
	mxk_buf_reset(&io->in);
	return 1;
}

/* ISC license. */

/*
 * json: append JSON text to a struct mxk_buf, for the tools' --json output.
 *
 * Strings are escaped per RFC 8259 §7: quote, backslash and control
 * characters are escaped; bytes that are not valid UTF-8 become U+FFFD so
 * the output is always valid JSON whatever the (hostile) input.  Each
 * function returns 0 or -1 when the buffer's cap is reached.  Commas are
 * the caller's business: mxk_json_key() writes ",\"key\":" unless first.
 */
#ifndef MXK_JSON_H
#define MXK_JSON_H

#include <stddef.h>

#include "buf.h"

int	 mxk_json_str(struct mxk_buf *, const char *);
int	 mxk_json_strn(struct mxk_buf *, const char *, size_t);
/* ",\"key\":" or "\"key\":" when first is set (then cleared). */
int	 mxk_json_key(struct mxk_buf *, int *first, const char *key);
int	 mxk_json_kv_str(struct mxk_buf *, int *first, const char *key,
	    const char *val);
int	 mxk_json_kv_int(struct mxk_buf *, int *first, const char *key,
	    long long val);
int	 mxk_json_kv_bool(struct mxk_buf *, int *first, const char *key,
	    int val);

#endif

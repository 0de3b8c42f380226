/* mime_codec: quoted-printable and base64 both ways; see mime_codec.h. */
#include "mailauth/mime_codec.h"

#include <string.h>

#include "base64.h"

static const char hexdigits[] = "0123456789ABCDEF";
static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void mime_qp_encode(const char *data, size_t len, struct buf *out)
{
	size_t col = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)data[i];
		if (c == '\r' && i + 1 < len && data[i + 1] == '\n') {
			buf_puts(out, "\r\n");
			col = 0;
			i++;
			continue;
		}
		int at_eol = i + 1 == len || (data[i + 1] == '\r' && i + 2 < len && data[i + 2] == '\n');
		/* Literal: printable ASCII but "=", and space/tab not ending a line.
		 * A leading "." or "From " is safe in 7bit SMTP (dot-stuffing) so is kept. */
		int literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_eol);
		if (literal && c == '-' && (col == 0 || col + 1 > 75))
			literal = 0;         /* a line starting "--" could end a multipart */
		size_t w = literal ? 1 : 3;
		if (col + w > 75) {          /* soft break keeps lines at 76 with the "=" */
			buf_puts(out, "=\r\n");
			col = 0;
		}
		if (literal) {
			buf_putc(out, (char)c);
		} else {
			buf_putc(out, '=');
			buf_putc(out, hexdigits[c >> 4]);
			buf_putc(out, hexdigits[c & 15]);
		}
		col += w;
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void mime_qp_decode(const char *data, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '=') {
			buf_putc(out, data[i]);
			continue;
		}
		size_t j = i + 1;            /* a soft break: "=", blanks, CRLF */
		while (j < len && (data[j] == ' ' || data[j] == '\t'))
			j++;
		if (j + 1 < len && data[j] == '\r' && data[j + 1] == '\n') {
			i = j + 1;
			continue;
		}
		if (j == len) {              /* "=" at the very end: a soft break too */
			i = j;
			continue;
		}
		int hi = i + 2 < len ? hexval(data[i + 1]) : -1, lo = hi >= 0 ? hexval(data[i + 2]) : -1;
		if (lo < 0) {
			buf_putc(out, '=');
			continue;
		}
		buf_putc(out, (char)(hi << 4 | lo));
		i += 2;
	}
}

void mime_base64(const unsigned char *data, size_t len, struct buf *out)
{
	size_t need = base64_encoded_len(len) + 1;
	buf_reserve(out, need);
	long n = base64_encode(data, len, out->data + out->len, need);
	if (n > 0)
		out->len += (size_t)n;
}

void mime_base64_lines(const char *data, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i += 57) {     /* 57 octets make a line of 76 */
		if (i)
			buf_puts(out, "\r\n");
		mime_base64((const unsigned char *)data + i, len - i < 57 ? len - i : 57, out);
	}
}

/* Lenient (RFC 2045 6.8): octets outside the alphabet are skipped, the
 * text ends at the first "=", a last lone character is dropped; what is
 * left goes through the one strict decoder. */
void mime_base64_decode(const char *data, size_t len, struct buf *out)
{
	struct buf clean = BUF_INIT;
	for (size_t i = 0; i < len && data[i] != '='; i++)
		if (data[i] && strchr(b64chars, data[i]))
			buf_putc(&clean, data[i]);
	if (clean.len % 4 == 1)
		clean.len--;
	while (clean.len % 4)
		buf_putc(&clean, '=');
	size_t max = base64_decoded_max(clean.len) + 1;
	buf_reserve(out, max);
	long n = base64_decode(clean.data ? clean.data : "", clean.len, out->data + out->len, max);
	if (n > 0)
		out->len += (size_t)n;
	out->data[out->len] = '\0';
	buf_free(&clean);
}

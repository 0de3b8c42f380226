/* mime_codec: quoted-printable and base64 both ways; see mime_codec.h. */
#include "mailauth/mime_codec.h"

#include <string.h>

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

static void b64_quad(const unsigned char *p, size_t n, char q[4])
{
	unsigned v = (unsigned)p[0] << 16 | (n > 1 ? (unsigned)p[1] << 8 : 0) | (n > 2 ? p[2] : 0);
	q[0] = b64chars[v >> 18];
	q[1] = b64chars[(v >> 12) & 63];
	q[2] = n > 1 ? b64chars[(v >> 6) & 63] : '=';
	q[3] = n > 2 ? b64chars[v & 63] : '=';
}

void mime_base64(const unsigned char *data, size_t len, struct buf *out)
{
	char q[4];
	for (size_t i = 0; i < len; i += 3) {
		b64_quad(data + i, len - i, q);
		buf_append(out, q, 4);
	}
}

void mime_base64_lines(const char *data, size_t len, struct buf *out)
{
	const unsigned char *d = (const unsigned char *)data;
	char q[4];
	for (size_t i = 0; i < len; i += 3) {
		if (i && i % 57 == 0)        /* 57 octets make a line of 76 */
			buf_puts(out, "\r\n");
		b64_quad(d + i, len - i, q);
		buf_append(out, q, 4);
	}
}

void mime_base64_decode(const char *data, size_t len, struct buf *out)
{
	unsigned v = 0;
	int bits = 0;
	for (size_t i = 0; i < len && data[i] != '='; i++) {
		const char *p = data[i] ? strchr(b64chars, data[i]) : NULL;
		if (!p)
			continue;
		v = (v << 6 | (unsigned)(p - b64chars)) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_putc(out, (char)((v >> bits) & 0xff));
		}
	}
}

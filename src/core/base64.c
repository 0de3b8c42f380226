/*
 * base64: RFC 4648 base64 encoding and strict decoding (see base64.h).
 */
#include "base64.h"

#include <stdint.h>

#include "xmalloc.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_len(size_t n)
{
	return (n / 3 + (n % 3 != 0)) * 4;
}

size_t base64_decoded_max(size_t inlen)
{
	return inlen / 4 * 3;
}

long base64_encode(const void *in, size_t inlen, char *out, size_t outlen)
{
	const unsigned char *p = in;
	size_t need = base64_encoded_len(inlen), o = 0;
	if (inlen > SIZE_MAX / 2 || outlen < need + 1) {
		if (outlen)
			out[0] = '\0';
		return -1;
	}
	for (size_t i = 0; i < inlen; i += 3) {
		unsigned long w = (unsigned long)p[i] << 16;
		if (i + 1 < inlen)
			w |= (unsigned long)p[i + 1] << 8;
		if (i + 2 < inlen)
			w |= p[i + 2];
		out[o++] = alphabet[(w >> 18) & 63];
		out[o++] = alphabet[(w >> 12) & 63];
		out[o++] = i + 1 < inlen ? alphabet[(w >> 6) & 63] : '=';
		out[o++] = i + 2 < inlen ? alphabet[w & 63] : '=';
	}
	out[o] = '\0';
	return (long)o;
}

char *base64_encode_alloc(const void *in, size_t inlen)
{
	/* in is an object in memory, so inlen <= PTRDIFF_MAX and the
	 * length (4/3 of it) cannot overflow */
	size_t len = base64_encoded_len(inlen) + 1;
	char *out = xmalloc(len);
	base64_encode(in, inlen, out, len);
	return out;
}

/* The value of an alphabet character, or -1. */
static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes one group of four characters into b; the count of octets (1 to
 * 3), or -1.  Padding is allowed only in the last group, in its last two
 * places, and nothing but padding may follow it. */
static int decode_quad(const unsigned char *q, int last, unsigned char b[3])
{
	int v[4], pad = 0;
	for (int k = 0; k < 4; k++) {
		if (q[k] == '=' && last && k >= 2) {
			v[k] = 0;
			pad++;
		} else if (pad || (v[k] = b64_value(q[k])) < 0) {
			return -1;
		}
	}
	unsigned long w = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
			  ((unsigned long)v[2] << 6) | (unsigned long)v[3];
	b[0] = (unsigned char)(w >> 16);
	b[1] = (unsigned char)(w >> 8);
	b[2] = (unsigned char)w;
	return 3 - pad;
}

long base64_decode(const char *in, size_t inlen, void *out, size_t outlen)
{
	unsigned char *o = out;
	size_t n = 0;
	if (inlen % 4 != 0 || outlen == 0)
		return -1;
	for (size_t i = 0; i < inlen; i += 4) {
		unsigned char b[3];
		int got = decode_quad((const unsigned char *)in + i, i + 4 == inlen, b);
		if (got < 0 || outlen - n <= (size_t)got)
			return -1;      /* bad input, or no room for the octets and the NUL */
		for (int k = 0; k < got; k++)
			o[n++] = b[k];
	}
	o[n] = '\0';
	return (long)n;
}

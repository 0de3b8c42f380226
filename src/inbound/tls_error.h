/*
 * tls_error: says what went wrong on a TLS connection in words, instead of
 * OpenSSL's packed codes (`error:00000005:lib(0)::reason(5)`).
 *
 * Contract: tls_error_describe() takes the errors libevent collected for a
 * bufferevent (bufferevent_get_openssl_error() until 0: the first is
 * usually SSL_get_error()'s code, SSL_ERROR_SYSCALL or SSL_ERROR_SSL, then
 * OpenSSL's error queue), the errno of the socket, and whether the
 * handshake was still in progress, and writes one short reason ("peer
 * closed the connection during the handshake", "protocol version not
 * supported", "certificate rejected by the peer", "no shared cipher",
 * "not TLS (plain text or HTTP)", ...) and OpenSSL's own text of the
 * deepest error as detail ("" when there is none).
 */
#ifndef OUTPOST_TLS_ERROR_H
#define OUTPOST_TLS_ERROR_H
#include <stddef.h>

#define TLS_ERRORS_MAX 8

struct tls_error {
	const char *reason;      /* static text */
	char detail[160];
};

void tls_error_describe(const unsigned long *errs, size_t nerrs, int sys_errno, int handshake,
			struct tls_error *out);

#endif

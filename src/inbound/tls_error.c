/*
 * tls_error: OpenSSL error codes to words.  See tls_error.h.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

#include "inbound/tls_error.h"

/* An SSL reason code to what happened, or NULL when it is none of these. */
static const char *reason_class(int r)
{
	switch (r) {
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_VERSION_TOO_HIGH:
		return "protocol version not supported";
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
	case SSL_R_TLSV1_BAD_CERTIFICATE_STATUS_RESPONSE:
		return "certificate rejected by the peer";
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
	case SSL_R_NO_SHARED_GROUPS:
	case SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY:
		return "no shared cipher or group";
	case SSL_R_WRONG_VERSION_NUMBER:    /* the record header is not TLS at all */
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_RECORD_LENGTH_MISMATCH:
		return "not TLS (plain text or HTTP)";
	case SSL_R_UNEXPECTED_EOF_WHILE_READING:
		return NULL;     /* said by the syscall case */
	default:
		return NULL;
	}
}

static void set_detail(struct tls_error *out, unsigned long e)
{
	const char *t = ERR_reason_error_string(e);
	int n = t ? snprintf(out->detail, sizeof(out->detail), "%s", t)
		  : snprintf(out->detail, sizeof(out->detail), "reason %d", ERR_GET_REASON(e));
	if (n < 0 || (size_t)n >= sizeof(out->detail))
		out->detail[sizeof(out->detail) - 1] = '\0';
}

void tls_error_describe(const unsigned long *errs, size_t nerrs, int sys_errno, int handshake,
			struct tls_error *out)
{
	int eof = 0;
	unsigned long deepest = 0;
	out->reason = NULL;
	out->detail[0] = '\0';
	for (size_t i = 0; i < nerrs; i++) {
		unsigned long e = errs[i];
		if (ERR_GET_LIB(e) == 0 && e < 16)      /* SSL_get_error()'s code, as libevent stores it */
			continue;
		deepest = e;
		eof |= ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
		if (out->reason == NULL && ERR_GET_LIB(e) == ERR_LIB_SSL)
			out->reason = reason_class(ERR_GET_REASON(e));
	}
	if (deepest)
		set_detail(out, deepest);
	if (out->reason)
		return;
	if (eof || (deepest == 0 && sys_errno == 0))
		out->reason = handshake ? "peer closed the connection during the handshake"
					: "peer closed the connection without TLS close_notify";
	else if (deepest == 0) {
		out->reason = "network error";
		snprintf(out->detail, sizeof(out->detail), "%s", strerror(sys_errno));
	} else
		out->reason = handshake ? "handshake failed" : "TLS protocol error";
}

/*
 * test_tls_error: OpenSSL's codes, as libevent collects them, to words.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>

#include "inbound/tls_error.h"

static const char *describe(unsigned long a, unsigned long b, int sys_errno, int handshake, char *detail)
{
	unsigned long errs[2] = { a, b };
	struct tls_error te;
	tls_error_describe(errs, b ? 2 : (a ? 1 : 0), sys_errno, handshake, &te);
	strcpy(detail, te.detail);
	return te.reason;
}

static void test_classes(void **state)
{
	(void)state;
	char d[200];
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS, NULL);
	/* what the issue saw: only SSL_ERROR_SYSCALL (5), the peer went away */
	assert_string_equal(describe(SSL_ERROR_SYSCALL, 0, 0, 1, d), "peer closed the connection during the handshake");
	assert_string_equal(d, "");
	assert_string_equal(describe(SSL_ERROR_SYSCALL, 0, ECONNRESET, 0, d), "network error");
	assert_string_equal(d, strerror(ECONNRESET));
	assert_string_equal(describe(0, 0, 0, 1, d), "peer closed the connection during the handshake");
	assert_string_equal(describe(SSL_ERROR_SSL, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_UNSUPPORTED_PROTOCOL), 0, 1, d),
			    "protocol version not supported");
	assert_string_equal(d, "unsupported protocol");
	assert_string_equal(describe(SSL_ERROR_SSL, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_TLSV1_ALERT_UNKNOWN_CA), 0, 1, d),
			    "certificate rejected by the peer");
	assert_string_equal(d, "tlsv1 alert unknown ca");
	assert_string_equal(describe(SSL_ERROR_SSL, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_NO_SHARED_CIPHER), 0, 1, d),
			    "no shared cipher or group");
	assert_string_equal(describe(SSL_ERROR_SSL, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_HTTP_REQUEST), 0, 1, d),
			    "not TLS (plain text or HTTP)");
	assert_string_equal(describe(SSL_ERROR_SSL, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_WRONG_VERSION_NUMBER), 0, 1, d),
			    "not TLS (plain text or HTTP)");
	assert_string_equal(describe(SSL_ERROR_SSL, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_UNEXPECTED_EOF_WHILE_READING),
				     0, 0, d), "peer closed the connection without TLS close_notify");
	/* anything else: a generic class, OpenSSL's text as the detail */
	assert_string_equal(describe(SSL_ERROR_SSL, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_BAD_PACKET), 0, 1, d),
			    "handshake failed");
	assert_true(d[0] != '\0');
	assert_string_equal(describe(SSL_ERROR_SSL, ERR_PACK(ERR_LIB_SSL, 0, SSL_R_BAD_PACKET), 0, 0, d),
			    "TLS protocol error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

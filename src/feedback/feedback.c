/*
 * feedback: attribution (VERP tag, sent history) and the actions of each
 * outcome's scope; contract in feedback.h.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "feedback/bounce.h"
#include "feedback/classify.h"
#include "feedback/feedback.h"
#include "feedback/suppress.h"

#define TAG_HEX 16

static void tag_of(const unsigned char *key, size_t keylen, const char *qid, char *hex)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)qid, strlen(qid), mac, &maclen);
	for (int i = 0; i < TAG_HEX / 2; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
}

int verp_address(const unsigned char *key, size_t keylen, const char *qid, const char *domain, char *out,
		 size_t outlen)
{
	char tag[TAG_HEX + 1];
	tag_of(key, keylen, qid, tag);
	int n = snprintf(out, outlen, "b+%s+%s@%s", qid, tag, domain);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

int verp_parse(const unsigned char *key, size_t keylen, const char *addr, const char *domain, char *qid,
	       size_t qidlen)
{
	const char *at = strrchr(addr, '@');
	if (at == NULL || strcasecmp(at + 1, domain) != 0 || strncasecmp(addr, "b+", 2) != 0)
		return 0;
	const char *q = addr + 2, *plus = memchr(q, '+', (size_t)(at - q));
	if (plus == NULL || plus == q || (size_t)(plus - q) >= qidlen || at - plus - 1 != TAG_HEX)
		return -1;
	memcpy(qid, q, (size_t)(plus - q));
	qid[plus - q] = '\0';
	for (const char *p = qid; *p; p++)
		if (!isalnum((unsigned char)*p))
			return -1;
	char want[TAG_HEX + 1], got[TAG_HEX + 1];
	tag_of(key, keylen, qid, want);
	for (int i = 0; i < TAG_HEX; i++)
		got[i] = (char)tolower((unsigned char)plus[1 + i]);
	got[TAG_HEX] = '\0';
	return CRYPTO_memcmp(want, got, TAG_HEX) == 0 ? 1 : -1;
}

int verp_key_load(const char *path, unsigned char *key, size_t keysize, size_t *keylen, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "bounces secret_file %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ssize_t n = read(fd, key, keysize);
	close(fd);
	if (st.st_mode & 077) {
		snprintf(err, errlen, "bounces secret_file %s: mode %03o, must be 600 or stricter", path,
			 (unsigned)(st.st_mode & 0777));
		return -1;
	}
	if (n < 16) {
		snprintf(err, errlen, "bounces secret_file %s: fewer than 16 bytes (head -c 32 /dev/urandom > FILE)",
			 path);
		return -1;
	}
	*keylen = (size_t)n;
	return 0;
}

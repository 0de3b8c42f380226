/*
 * hash: FNV-1a, the one string hash of the in-memory tables (suppression
 * set, route health, metric series, throttle instances).  Not for
 * anything an attacker could aim at a bucket with where that matters more
 * than speed; every table here also compares the keys themselves.
 * A key of several strings hashes each, then fnv1a_byte(h, 0) between
 * them, so ("ab", "c") and ("a", "bc") differ.
 */
#ifndef OUTPOST_HASH_H
#define OUTPOST_HASH_H
#include <stdint.h>

#define FNV1A_INIT 14695981039346656037ull

static inline uint64_t fnv1a_byte(uint64_t h, unsigned char b)
{
	return (h ^ b) * 1099511628211ull;
}

static inline uint64_t fnv1a_str(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = fnv1a_byte(h, (unsigned char)*s);
	return h;
}

#endif

/*
 * libFuzzer target: verp_parse() on any address; a valid tag is only ever
 * accepted for the qid it was made for (the round trip through
 * verp_address), and a parse never reads past the string.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "feedback/feedback.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char key[] = "fuzz-key-fuzz-key-fuzz-key-32byt";
	char *addr = malloc(size + 1), qid[64], again[300], qid2[64];
	if (addr == NULL)
		return 0;
	memcpy(addr, data, size);
	addr[size] = '\0';
	if (verp_parse(key, 32, addr, "bounces.example.com", qid, sizeof(qid)) == 1) {
		if (verp_address(key, 32, qid, "bounces.example.com", again, sizeof(again)) != 0 ||
		    verp_parse(key, 32, again, "bounces.example.com", qid2, sizeof(qid2)) != 1 || strcmp(qid, qid2) != 0)
			__builtin_trap();
	}
	free(addr);
	return 0;
}

/*
 * imap_resp: the parts of IMAP server responses (RFC 9051, 3501) that the
 * placement probes read, parsed from text a server sent (outside input),
 * and the URLs by which libcurl is pointed at a mailbox.
 *
 * Contract:
 * - Every parser takes the untagged responses as received (lines ending
 *   in CRLF or LF, any other lines among them, which are skipped), never
 *   reads past len, and never fails on any input: what is malformed is
 *   skipped (LIST) or makes the result -1 (SEARCH).
 * - imap_parse_list(): each "* LIST (attributes) delimiter name" line
 *   (name an atom, a quoted string with \" and \\ escapes, or a literal
 *   {n} whose n octets follow the line) becomes one mailbox with its
 *   \Junk and \Noselect / \NonExistent attributes and its delimiter.
 * - imap_junk_folder(): the selectable mailbox with the SPECIAL-USE \Junk
 *   attribute (RFC 6154); else the first by the common names Junk, Spam,
 *   "Junk E-mail", "Junk Email", "[Gmail]/Spam", compared without case,
 *   also under INBOX (INBOX.Junk, INBOX/Spam); NULL when there is none.
 * - imap_parse_search(): the UIDs (or sequence numbers) of all "* SEARCH"
 *   lines; a trailing "(MODSEQ n)" is allowed; 0 or a number above
 *   4294967295 or any other text makes it -1.
 * - imap_has_capability(): 1 when a "* CAPABILITY" line (or an
 *   "[CAPABILITY ...]" response code) names cap, compared without case.
 * - imap_mailbox_url(): base (imap[s]://host:port, with or without a
 *   trailing slash) followed by "/" and the mailbox name percent-encoded
 *   (all but unreserved characters and the hierarchy "/" kept as it is);
 *   base with a slash when mailbox is NULL.
 */
#ifndef OUTPOST_IMAP_RESP_H
#define OUTPOST_IMAP_RESP_H
#include <stddef.h>
#include <stdint.h>

#define IMAP_MB_JUNK     1u
#define IMAP_MB_NOSELECT 2u

struct imap_mailbox {
	char *name;             /* as the server names it (modified UTF-7) */
	char delim;             /* '\0' for NIL */
	unsigned flags;         /* IMAP_MB_* */
};

/* Appends to *mb (*n entries, realloc'ed); returns how many were added. */
size_t imap_parse_list(const char *text, size_t len, struct imap_mailbox **mb, size_t *n);
void imap_mailboxes_free(struct imap_mailbox *mb, size_t n);
const char *imap_junk_folder(const struct imap_mailbox *mb, size_t n);

/* The numbers found into ids (at most max; *n how many); 0, or -1. */
int imap_parse_search(const char *text, size_t len, uint32_t *ids, size_t max, size_t *n);
int imap_has_capability(const char *text, size_t len, const char *cap);

char *imap_mailbox_url(const char *base, const char *mailbox);

#endif

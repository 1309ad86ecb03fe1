/*
 * echo.c: the smallest, fastest auth helper, for benchmarks.
 *
 * Generic (Prosody) line protocol, the demo users of testscripts/README.md
 * built in (alice/wonderland, bob/builder, carol/a:b:c, dave/pässwörd€):
 *
 *     auth:USER:SERVER:PASSWORD     1 if the password is right, else 0
 *     isuser:USER:SERVER            1 if the user exists, else 0
 *     setpass:USER:SERVER:PASSWORD  1 and the password changed, if the user exists
 *
 * Anything else answers 0. Each answer is written with write(2) at once,
 * so it works over a pipe and under a pty alike, and costs nothing but the
 * round trip: a benchmark of authpool measures authpool, not the helper.
 *
 *     cc -O2 -o bin/echo-helper testscripts/echo.c   (make bin/echo-helper)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

struct user {
	const char *key; /* user@server */
	char *password;
	size_t passlen;
};

static struct user users[] = {
	{"alice@example.com", "wonderland", 0},
	{"bob@example.com", "builder", 0},
	{"carol@example.com", "a:b:c", 0},
	{"dave@example.com", "p\xc3\xa4ssw\xc3\xb6rd\xe2\x82\xac", 0},
};
#define NUSERS (sizeof users / sizeof users[0])

static struct user *find(const char *u, size_t ulen, const char *s, size_t slen)
{
	for (size_t i = 0; i < NUSERS; i++) {
		const char *k = users[i].key;
		size_t klen = strlen(k);
		if (klen == ulen + 1 + slen && memcmp(k, u, ulen) == 0 && k[ulen] == '@' &&
		    memcmp(k + ulen + 1, s, slen) == 0)
			return &users[i];
	}
	return NULL;
}

/* handle answers one request of n bytes, without its line end. */
static int handle(char *req, size_t n)
{
	char *end = req + n;
	char *op = req, *user, *server, *pass = NULL;
	char *c1 = memchr(op, ':', n);
	if (!c1)
		return 0;
	user = c1 + 1;
	char *c2 = memchr(user, ':', end - user);
	if (!c2)
		return 0;
	server = c2 + 1;
	char *c3 = memchr(server, ':', end - server);
	size_t ulen = c2 - user, slen = (c3 ? c3 : end) - server, plen = 0;
	if (c3) {
		pass = c3 + 1;
		plen = end - pass;
	}
	size_t oplen = c1 - op;
	struct user *u = find(user, ulen, server, slen);
	if (oplen == 4 && memcmp(op, "auth", 4) == 0 && pass)
		return u && u->passlen == plen && memcmp(u->password, pass, plen) == 0;
	if (oplen == 6 && memcmp(op, "isuser", 6) == 0 && !pass)
		return u != NULL;
	if (oplen == 7 && memcmp(op, "setpass", 7) == 0 && pass && u) {
		char *p = malloc(plen ? plen : 1);
		if (!p)
			return 0;
		memcpy(p, pass, plen);
		u->password = p; /* the old one leaks: at most one per setpass */
		u->passlen = plen;
		return 1;
	}
	return 0;
}

static int writeall(const char *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(1, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= w;
	}
	return 0;
}

int main(void)
{
	for (size_t i = 0; i < NUSERS; i++)
		users[i].passlen = strlen(users[i].password);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (line[n - 1] == '\n')
			n--;
		if (writeall(handle(line, (size_t)n) ? "1\n" : "0\n", 2) < 0)
			return 1;
	}
	return 0;
}

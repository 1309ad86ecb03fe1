// Package framing encodes authentication requests for external auth helpers
// and decodes their answers, in the two wire protocols XMPP servers use.
//
// The generic protocol (Prosody's mod_auth_external) is one request per line:
//
//	auth:USER:SERVER:PASSWORD\n
//	isuser:USER:SERVER\n
//	setpass:USER:SERVER:PASSWORD\n
//
// answered by "1" or "0" and a line end. The ejabberd protocol (extauth)
// carries the same payloads, plus tryregister, removeuser and removeuser3,
// behind a 2-byte big-endian length, and is answered by exactly the four bytes
// 00 02 00 01 (true) or 00 02 00 00 (false).
//
// Neither protocol has any escaping, so the only safe policy is to refuse,
// before anything reaches a helper, every request a helper could misread: a
// line end or NUL in any field (it would split one request into two, or end a
// C string early), a ':' in the user or server (it would shift the password
// into another field), an empty user or server, and any payload longer than
// MaxPayload. Every other byte, control bytes included, passes unchanged;
// that is why helpers run under a raw pty (see package ptyproc).
//
// Passwords are secrets: Request's String, Format and LogValue methods never
// print one, and no error returned by this package contains one.
package framing

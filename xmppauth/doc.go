// Package xmppauth turns the answer of an authpool credential check into
// what an XMPP server tells the client, so that a Go XMPP server never
// confuses "wrong password" with "could not check".
//
// # Why
//
// SASL (RFC 6120 §6.5) ends a failed login with a condition, and two of them
// matter here: not-authorized (the credentials are wrong: the client asks
// the user again) and temporary-auth-failure (the server could not check
// them: the client may retry, the user's password is not in question). A
// pool's answer is three-valued (yes, no, or an error saying why no answer
// came), and a server hook shaped as a single bool, such as mellium's
// func(*sasl.Negotiator) bool, folds a helper timeout into not-authorized:
// users whose password is right are told it is wrong whenever a helper
// hangs.
//
// # The mapping
//
//	Auth answered yes                         → Success
//	Auth answered no                          → NotAuthorized
//	ErrBadRequest (no helper could be asked,   → NotAuthorized
//	  e.g. ':' in the user name)
//	any other error: timeout, unavailable,    → TemporaryAuthFailure
//	  overloaded, helper exited, protocol,
//	  closed, the caller's context, ...
//
// A request the helper protocol cannot carry names no account, so it is a
// wrong login rather than a failure to check. Every error this package does
// not recognise is a failure to check: it never becomes Success, and it
// never blames the user's password. The zero Result is TemporaryAuthFailure
// for the same reason.
//
// Check returns the Result for one login; Hook adapts a pool to the
// func(ctx, user, server, password) (bool, error) shape that many server
// hooks have, with the same mapping. Both accept anything with an Auth
// method of the pool's shape: *pool.Pool in process, *client.Client through
// the daemon.
//
// # Password guessing
//
// authpool serve slows guessing down by itself (package penalty). A server
// that embeds the pool puts a penalty.Guard in front of it and passes each
// login's client address in framing.Request.Client (Example_penalty); one
// that talks to the daemon passes it with client.Client.AuthFrom. Either
// way a penalty that outlasts the login's deadline comes back as an error
// wrapping result.ErrTimeout, so ResultOf makes it TemporaryAuthFailure:
// the real user is never told the password is wrong because a guesser
// raised its penalty.
package xmppauth

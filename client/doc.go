// Package client talks to a running authpool daemon over its Unix socket,
// for Go programs (an XMPP server, a web app) that want the daemon's
// answers without running helpers themselves.
//
// A Client uses the native protocol (docs/PROTOCOL.md): requests carry ids,
// so one connection carries any number of concurrent requests and answers
// come back as soon as they are ready, and a failure says why. Its errors
// are the same values package pool returns (ErrTimeout, ErrUnavailable,
// ErrOverloaded, ErrBadRequest, ...), defined in the leaf package result,
// so code can switch between an embedded pool and the daemon behind one
// interface, and a program that only uses the client links neither the
// pool nor ptyproc.
//
// The connection is made on first use and made again after it breaks (the
// daemon restarted, say). A request whose connection broke before it was
// sent is sent again on the new one; one that was sent and not answered is
// sent again only if it is an auth or isuser, which are safe to repeat.
package client

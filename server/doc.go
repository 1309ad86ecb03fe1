// Package server serves a pool to local callers over a stream socket
// (normally a Unix socket) in the generic helper line protocol, so an
// existing XMPP server, a script, or socat can use authpool as if it were
// one very robust helper.
//
// Every request line gets exactly one answer line, "1" or "0", in request
// order. Requests from one connection run concurrently (a client may
// pipeline), up to Config.MaxPipeline at a time. Anything that is not a yes
// — a malformed line, a refusal, a timeout, no helper — answers "0": a
// helper protocol has no other word, and failing closed is the only safe
// reading of "don't know". The reason goes to the log, never the password.
package server

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
//
// # The request path
//
// Config.Pool's Do is called synchronously, as net/http calls a handler,
// from the goroutine that owns the request; nothing hands a request or an
// answer to another goroutine through a channel:
//
//	Serve (the caller's goroutine)   accepts, one reader goroutine per connection
//	reader (owns the connection)     reads a request; one alone on the connection:
//	                                 runs Pool.Do itself and writes the answer, as a
//	                                 relay would; after 5ms, a timer's goroutine takes
//	                                 over reading, and the old reader ends with it
//	request goroutine (reader's)     a pipelined request (or one sent to a busy
//	                                 connection): Pool.Do, then writes its answer
//	                                 (native), or every ordered answer then due
//	NewHTTPHandler                   Pool.Do in net/http's goroutine for the request
//
// The last reader closes the connection once the requests have returned.
// Shutdown stops the readers and waits for the answers; when its context
// ends first, or on Close, every request's context is cancelled (Do returns
// at once) and the connections are closed.
package server

// Package daemon is authpool serve: a pool of helpers, an answer cache if
// one is asked for, and every listener in front of them (the socket, the
// ejabberd socket, the HTTP API, the metrics, and the sockets systemd
// passes instead), run as one group of actors with signals, reloads and
// systemd's readiness notice. cmd/authpool parses flags into a Config and
// calls Run; tests run the same daemon in process.
//
// # Actors
//
// Run opens the listeners (before any helper is forked: ListenUnix sets the
// umask for an instant), proves the helper command (pool.Probe), starts the
// pool and runs the actors with github.com/oklog/run: when one returns,
// all are interrupted, in the order they were added, so shutdown goes by
// stages under one deadline (Config.ShutdownTimeout):
//
//	signals    SIGTERM, SIGINT or Run's context ending returns; SIGHUP reloads
//	readiness  READY=1 once the helpers are up; STOPPING=1 when interrupted
//	listeners  one actor each; interrupted, all stop accepting at once and
//	           answer what they have read, abandoning it at the deadline
//	pool       interrupted after the listeners: helpers finish, then stop
//
// oklog/run rather than a group of our own or errgroup: it is the pattern
// exactly (execute and interrupt per actor, the first to return stops all,
// Run returns when all have), sixty lines without dependencies, and its
// interrupts run one after another in a fixed order, which is the order a
// shutdown needs. Run returns when every actor has; what Run started is
// closed in one place (a stack of cleanups run on every way out), socket
// files and helpers included.
//
// # The request path, and who owns each goroutine
//
//	listener's actor (Server.Serve)       accepts; one reader per connection
//	connection reader (package server)    reads; a request alone on its connection
//	                                      runs here (after 5ms a timer's goroutine
//	                                      reads on), pipelined ones in a goroutine
//	                                      each, which the last reader waits for
//	  penalty.Guard.Do, unless off        in the same goroutine: a password check on a
//	                                      penalised key waits its turn and its penalty
//	                                      here, holding no helper (a held answer to a
//	                                      clean one waits here too); no goroutine of its own
//	    Cache.Do, when there is a cache   in the same goroutine: no goroutine of its own
//	      Pool.Do                         blocking mode: takes a helper and asks it in
//	                                      the same goroutine; non-blocking: waits while
//	                                      a slot's goroutine asks
//	HTTP request (net/http's goroutine)   the same Do chain; its connection is the
//	                                      HTTP actor's, which waits for it at shutdown
//
// The Guard is in front of the cache, so a cached yes waits out a penalty
// too, and logs each failed check on the daemon's own logger, not the
// rate-limited one clients' lines go through: fail2ban needs every line.
//
// Only the pool has goroutines of its own (one per helper slot, which also
// serves the queue in non-blocking mode, and one per answer it reads for a
// caller who gave up); Pool.Shutdown ends them.
//
// Errors name authpool serve's flags: this package exists for serve.
package daemon

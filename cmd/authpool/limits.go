package main

import (
	"errors"
	"fmt"
	"log/slog"

	"golang.org/x/sys/unix"
)

// File descriptors the daemon keeps out of its listeners' reach, so that
// a flood of connections can never stop it from starting a helper,
// reading its config or accepting on another listener.
const (
	// fdBase is the daemon's own: stdio, the poller, the listeners, a
	// config file being read, a refused connection being closed.
	fdBase = 64
	// fdPerHelper is one helper's: its pty or pipes, its stderr pipe, its
	// process handle, and the same again for a replacement starting.
	fdPerHelper = 16
	// minPerListener is the fewest connections a listener is given.
	minPerListener = 4
)

// fdReserve is the descriptors kept for everything but connections.
func fdReserve(helpers int) int { return fdBase + fdPerHelper*helpers }

// raiseNoFile raises the soft limit on open files to the hard one (Go does
// it at start-up too; this makes sure, and reports what it is) and
// returns the limit.
func raiseNoFile() (soft, hard uint64, err error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, err
	}
	if rl.Cur < rl.Max {
		raised := unix.Rlimit{Cur: rl.Max, Max: rl.Max}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &raised); err != nil {
			return rl.Cur, rl.Max, err
		}
		rl = raised
	}
	return rl.Cur, rl.Max, nil
}

// connPlan is how many connections each listener, and each peer on it,
// may hold, and how many all of them together: what the open-file limit
// leaves once the reserve is kept.
type connPlan struct {
	perListener, perPeer int
	budget               int
	lowered              bool // perListener is below what was asked
}

var errTooFewFiles = errors.New("the open-file limit is too low")

// planConnections fits the connection limits asked for (perPeer 0: a
// quarter of perListener) to an open-file limit, for this many helpers and
// listeners.
func planConnections(limit uint64, helpers, listeners, perListener, perPeer int) (connPlan, error) {
	const most = 1 << 30 // RLIM_INFINITY and the like
	budget := int(min(limit, most)) - fdReserve(helpers)
	if budget < listeners*minPerListener {
		return connPlan{}, fmt.Errorf("%w: %d open files, of which %d are kept for the daemon and %d helpers, leave %d for %d listeners; raise it (ulimit -n, or LimitNOFILE= in the systemd unit)",
			errTooFewFiles, limit, fdReserve(helpers), helpers, max(budget, 0), listeners)
	}
	p := connPlan{perListener: perListener, budget: budget}
	if perListener*listeners > budget {
		p.perListener, p.lowered = budget/listeners, true
	}
	p.perPeer = perPeer
	if p.perPeer == 0 {
		p.perPeer = max(1, p.perListener/4)
	}
	p.perPeer = min(p.perPeer, p.perListener)
	return p, nil
}

// logPlan says what the daemon runs with, and warns when the open-file
// limit made the connection limits lower than asked.
func logPlan(log *slog.Logger, soft, hard uint64, helpers, listeners int, p connPlan, asked int) {
	log.Info("open-file limit", "soft", soft, "hard", hard, "kept_for_daemon_and_helpers", fdReserve(helpers),
		"listeners", listeners, "max_connections", p.perListener, "max_connections_per_peer", p.perPeer)
	if p.lowered {
		log.Warn("--max-connections lowered to fit the open-file limit; raise the limit (LimitNOFILE= in the systemd unit) for more",
			"asked", asked, "max_connections", p.perListener)
	}
}

package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"

	"golang.org/x/sys/unix"

	"github.com/authpool/authpool/server"
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

// admission is how every listener admits connections: the allow lists,
// the limits fitted to the open-file limit, and the budget they share.
type admission struct {
	allowUIDs, allowGIDs []uint32
	plan                 connPlan
	limit                uint64 // soft RLIMIT_NOFILE
	helpers              int    // what the reserve was kept for
	budget               *server.Budget
	log                  *slog.Logger
	clients              *slog.Logger // rate-limited: refusals are a client's doing
}

// newAdmission raises the open-file limit, fits the connection limits
// asked for (perPeer 0: the default) to it and logs the result.
func newAdmission(cfg *Config, ls *listeners, helpers int, log, clients *slog.Logger) (*admission, error) {
	soft, hard, err := raiseNoFile()
	if err != nil {
		log.Warn("cannot raise the open-file limit", "err", err)
	}
	perListener, perPeer := cfg.MaxConnections, cfg.MaxConnectionsPerPeer
	plan, err := planConnections(soft, helpers, ls.count(), perListener, perPeer)
	if err != nil {
		return nil, err
	}
	log.Info("open-file limit", "soft", soft, "hard", hard, "kept_for_daemon_and_helpers", fdReserve(helpers),
		"listeners", ls.count(), "max_connections", plan.perListener, "max_connections_per_peer", plan.perPeer)
	if plan.lowered {
		log.Warn("--max-connections lowered to fit the open-file limit; raise the limit (LimitNOFILE= in the systemd unit) for more",
			"asked", perListener, "max_connections", plan.perListener)
	}
	if len(cfg.AllowGIDs) > 0 && ls.tcp() {
		log.Warn("--allow-gid admits no one over TCP, where the kernel tells no gid: only --allow-uid does")
	}
	return &admission{allowUIDs: cfg.AllowUIDs, allowGIDs: cfg.AllowGIDs, plan: plan, limit: soft, helpers: helpers,
		budget: server.NewBudget(plan.budget), log: log, clients: clients}, nil
}

// gate puts l behind the allow lists and the limits.
func (a *admission) gate(l net.Listener, name string) net.Listener {
	return server.NewGate(l, server.GateConfig{
		Name:           name,
		AllowUIDs:      a.allowUIDs,
		AllowGIDs:      a.allowGIDs,
		MaxConnections: a.plan.perListener,
		MaxPerPeer:     a.plan.perPeer,
		Budget:         a.budget,
		Logger:         a.clients,
	})
}

// helpersNow takes a new helper count (after a reload): more helpers need
// more of the reserve, so connections get less, and the helpers can
// always be started.
func (a *admission) helpersNow(n int) {
	if n <= a.helpers {
		return
	}
	a.helpers = n
	if fit := max(int(min(a.limit, 1<<30))-fdReserve(n), 0); fit < a.budget.Max() {
		a.budget.SetMax(fit)
		a.log.Warn("connections allowed lowered for the helpers added", "helpers", n, "connections", fit)
	}
}

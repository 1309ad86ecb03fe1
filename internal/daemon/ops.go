package daemon

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"os"
	"time"

	"github.com/authpool/authpool/cache"
	"github.com/authpool/authpool/metrics"
	"github.com/authpool/authpool/penalty"
	"github.com/authpool/authpool/pool"
)

// opsHandler serves what operators look at: /metrics (Prometheus),
// /healthz (200 while at least one helper is ready, 503 otherwise) and
// /status (the pool at a glance, as JSON).
func opsHandler(m *metrics.Metrics, p *pool.Pool, status func() Status) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, h := range p.Stats().Helpers {
			if h.State == pool.StateReady {
				w.Write([]byte("ok\n"))
				return
			}
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("no helper ready\n"))
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(status())
	})
	return mux
}

// withOps puts the operator endpoints in front of the auth API on the --http
// listener. Credentials, when set, guard /metrics and /status as they guard
// the API; /healthz stays open for health checkers.
func withOps(api, ops http.Handler, creds string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			ops.ServeHTTP(w, r)
		case "/metrics", "/status":
			if creds != "" {
				u, pw, ok := r.BasicAuth()
				if !ok || subtle.ConstantTimeCompare([]byte(u+":"+pw), []byte(creds)) != 1 {
					w.Header().Set("WWW-Authenticate", `Basic realm="authpool"`)
					http.Error(w, "unauthorized", http.StatusUnauthorized)
					return
				}
			}
			ops.ServeHTTP(w, r)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// Status is what /status and the native status request answer, and what
// "authpool status" shows; its JSON names are the interface.
type Status struct {
	PID           int            `json:"pid"`
	UptimeSeconds float64        `json:"uptime_seconds"`
	Mode          string         `json:"mode"`
	Untrusted     string         `json:"untrusted,omitempty"` // what the helpers did, while their command is untrusted
	Helpers       []HelperStatus `json:"helpers"`
	Queued        int            `json:"queued"`
	Waiting       int            `json:"waiting"`
	InFlight      int            `json:"in_flight"`
	Totals        Totals         `json:"totals"`
	Cache         *CacheStatus   `json:"cache,omitempty"`
	Shared        *SharedStatus  `json:"shared,omitempty"`  // with --redis
	Penalty       *PenaltyStatus `json:"penalty,omitempty"` // unless --penalty-base 0
}

// PenaltyStatus is the guessing defence's counters since the daemon
// started (penalty.Stats), and its tables now: what an operator, and a
// load test, need to tell a penalty from a slow helper.
type PenaltyStatus struct {
	Delayed  uint64 `json:"delayed"`  // checks that waited out a penalty
	Held     uint64 `json:"held"`     // checks whose answer waited its turn after a failure beside them
	Withheld uint64 `json:"withheld"` // of those, never answered: the caller could not wait
	GaveUp   uint64 `json:"gave_up"`  // checks that ended waiting their turn
	Failures uint64 `json:"failures"`
	Repeats  uint64 `json:"repeats"` // failures with a wrong password already tried
	Keys     int    `json:"keys"`    // keys with failures held now; -1: the store cannot tell
	InLine   int    `json:"in_line"` // checks waiting their turn now
}

// CacheStatus is the cache's counters (cache.Stats).
type CacheStatus struct {
	Hits          uint64 `json:"hits"`
	Misses        uint64 `json:"misses"`
	Entries       int    `json:"entries"`
	Evictions     uint64 `json:"evictions"`
	Invalidations uint64 `json:"invalidations"`
}

// HelperStatus is one slot of the pool (pool.HelperStats).
type HelperStatus struct {
	Slot          int              `json:"slot"`
	State         pool.HelperState `json:"state"`
	PID           int              `json:"pid,omitempty"`
	UptimeSeconds float64          `json:"uptime_seconds"`
	Served        int64            `json:"served"`
	Restarts      int              `json:"restarts"`
}

// Totals are the pool's counters since it started (pool.Stats).
type Totals struct {
	Requests       uint64 `json:"requests"`
	BadRequests    uint64 `json:"bad_requests"`
	Overloaded     uint64 `json:"overloaded"`
	Spawns         uint64 `json:"spawns"`
	SpawnFailures  uint64 `json:"spawn_failures"`
	Exits          uint64 `json:"exits"`
	Timeouts       uint64 `json:"timeouts"`
	ProtocolErrors uint64 `json:"protocol_errors"`
	Recycles       uint64 `json:"recycles"`
	OutOfStep      uint64 `json:"out_of_step"`
	Distrusted     uint64 `json:"distrusted"`
}

// newStatus reports on p and, when the daemon has them, c, the state
// shared through Redis and the guessing defence.
func newStatus(started time.Time, p *pool.Pool, c *cache.Cache, shared func() *SharedStatus, pen func() penalty.Stats) Status {
	st := p.Stats()
	r := Status{
		PID:           os.Getpid(),
		UptimeSeconds: float64(time.Since(started).Milliseconds()) / 1000,
		Mode:          p.Mode().String(),
		Queued:        st.Queued,
		Waiting:       st.Waiting,
		InFlight:      st.InFlight,
		Totals: Totals{st.Requests, st.BadRequests, st.Overloaded, st.Spawns, st.SpawnFailures,
			st.Exits, st.Timeouts, st.ProtocolErrors, st.Recycles, st.OutOfStep, st.Distrusted},
	}
	if st.Untrusted {
		r.Untrusted = st.UntrustedReason
	}
	for _, h := range st.Helpers {
		r.Helpers = append(r.Helpers, HelperStatus{h.Slot, h.State, h.PID, float64(h.Uptime.Milliseconds()) / 1000, h.Served, h.Restarts})
	}
	if c != nil {
		cs := c.Stats()
		r.Cache = &CacheStatus{cs.Hits, cs.Misses, cs.Entries, cs.Evictions, cs.Invalidations}
	}
	if shared != nil {
		r.Shared = shared()
	}
	if pen != nil {
		ps := pen()
		r.Penalty = &PenaltyStatus{ps.Delayed, ps.Held, ps.Withheld, ps.GaveUp, ps.Failures, ps.Repeats, ps.Keys, ps.InLine}
	}
	return r
}

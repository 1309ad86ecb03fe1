// Package loglimit bounds the log lines that other people's actions can
// cause. A client that sends 200,000 malformed lines must not get 200,000
// log lines: Handler passes at most Config.Burst records with one message
// in each Config.Window, drops the rest, and once the window is over logs
// one line saying how many it dropped.
package loglimit

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Config configures New. Every zero value has the default its comment
// gives.
type Config struct {
	// Burst is how many records with the same message and level pass in
	// one window. Zero means 20.
	Burst int
	// Window is how long a burst lasts. Zero means 10 seconds.
	Window time.Duration
	// MaxKeys bounds the distinct messages followed at once: records with
	// messages beyond it share one budget, so messages that embed changing
	// text (net/http's error log does) cannot grow the table or escape the
	// limit. Zero means 64.
	MaxKeys int

	now func() time.Time // tests
}

// SuppressedMsg is the message of the line that counts what was dropped.
const SuppressedMsg = "log lines suppressed"

// otherMessages is the key of records beyond Config.MaxKeys.
const otherMessages = "(other messages)"

// Handler is a slog.Handler that limits records at Info and above and
// passes Debug records unchanged (debug logging is asked for, and is
// already a flood). Handlers derived with WithAttrs and WithGroup share
// their parent's limits. Close it when done.
type Handler struct {
	next slog.Handler
	s    *state
}

type key struct {
	level slog.Level
	msg   string
}

type bucket struct {
	start           time.Time
	passed, dropped int
}

type state struct {
	cfg  Config
	root slog.Handler // where the counts go: no attributes, no group

	mu      sync.Mutex
	buckets map[key]*bucket
	timer   *time.Timer // pending flush, while something was dropped
	closed  bool
}

// New returns a Handler that passes what it lets through to next.
func New(next slog.Handler, cfg Config) *Handler {
	if cfg.Burst <= 0 {
		cfg.Burst = 20
	}
	if cfg.Window <= 0 {
		cfg.Window = 10 * time.Second
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 64
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	return &Handler{next: next, s: &state{cfg: cfg, root: next, buckets: make(map[key]*bucket)}}
}

func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(as), s: h.s}
}

func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), s: h.s}
}

func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelInfo {
		return h.next.Handle(ctx, r)
	}
	pass, counts := h.s.admit(r.Level, r.Message)
	h.s.emit(ctx, counts)
	if !pass {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// Flush logs the count of every window that is over and dropped records.
// A timer calls it; tests call it with their own clock.
func (h *Handler) Flush() { h.s.flush(false) }

// Close logs every count still pending, window over or not, and stops the
// timer. Records handled afterwards pass unlimited.
func (h *Handler) Close() { h.s.flush(true) }

// admit decides whether one record passes, and returns the counts of
// windows found over on the way.
func (s *state) admit(level slog.Level, msg string) (bool, []slog.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return true, nil
	}
	now := s.cfg.now()
	k := key{level, msg}
	var counts []slog.Record
	b := s.buckets[k]
	if b == nil && len(s.buckets) >= s.cfg.MaxKeys {
		counts = s.sweep(now, false)
	}
	if b == nil && len(s.buckets) >= s.cfg.MaxKeys {
		k = key{msg: otherMessages}
		b = s.buckets[k]
	}
	if b == nil {
		b = &bucket{start: now}
		s.buckets[k] = b
	}
	if now.Sub(b.start) >= s.cfg.Window {
		if b.dropped > 0 {
			counts = append(counts, s.count(k, b, now))
		}
		*b = bucket{start: now}
	}
	if b.passed < s.cfg.Burst {
		b.passed++
		return true, counts
	}
	b.dropped++
	if s.timer == nil {
		s.timer = time.AfterFunc(b.start.Add(s.cfg.Window).Sub(now), func() { s.flush(false) })
	}
	return false, counts
}

// sweep forgets the buckets whose window is over (every bucket, with all)
// and returns the counts of those that dropped records.
func (s *state) sweep(now time.Time, all bool) []slog.Record {
	var counts []slog.Record
	for k, b := range s.buckets {
		if !all && now.Sub(b.start) < s.cfg.Window {
			continue
		}
		if b.dropped > 0 {
			counts = append(counts, s.count(k, b, now))
		}
		delete(s.buckets, k)
	}
	return counts
}

// count is the line that says how many records of k were dropped.
func (s *state) count(k key, b *bucket, now time.Time) slog.Record {
	r := slog.NewRecord(now, max(k.level, slog.LevelWarn), SuppressedMsg, 0)
	r.AddAttrs(
		slog.String("message", k.msg),
		slog.Int("suppressed", b.dropped),
		slog.Duration("within", now.Sub(b.start).Round(time.Millisecond)),
	)
	if k.msg != otherMessages {
		r.AddAttrs(slog.String("message_level", k.level.String()))
	}
	return r
}

func (s *state) flush(closing bool) {
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = closing
	now := s.cfg.now()
	counts := s.sweep(now, closing)
	// Windows still open that dropped records need another flush.
	var next time.Time
	for _, b := range s.buckets {
		if end := b.start.Add(s.cfg.Window); b.dropped > 0 && (next.IsZero() || end.Before(next)) {
			next = end
		}
	}
	if !next.IsZero() {
		s.timer = time.AfterFunc(next.Sub(now), func() { s.flush(false) })
	}
	s.mu.Unlock()
	s.emit(context.Background(), counts)
}

func (s *state) emit(ctx context.Context, counts []slog.Record) {
	for _, r := range counts {
		if s.root.Enabled(ctx, r.Level) {
			s.root.Handle(ctx, r)
		}
	}
}

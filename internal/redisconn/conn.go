package redisconn

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkey-io/valkey-go"
)

// Mode is whether a store asks Redis now.
type Mode int32

const (
	// ModeLocal: Redis is away (or not reached yet); the store does
	// without it, and the health probe runs.
	ModeLocal Mode = iota
	// ModeRedis: the store asks Redis.
	ModeRedis
	// ModeClosed: Close was called.
	ModeClosed
)

func (m Mode) String() string {
	switch m {
	case ModeLocal:
		return "local"
	case ModeRedis:
		return "redis"
	case ModeClosed:
		return "closed"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Conn is a store's connection to Redis. Create it with Open and end it
// with Close; it is safe for concurrent use.
type Conn struct {
	o   Options
	opt valkey.ClientOption

	client atomic.Pointer[valkey.Client] // nil until the probe first connects
	mode   atomic.Int32
	wake   chan struct{} // a call saw Redis fail: probe at once
	ctx    context.Context
	cancel context.CancelFunc // ends the probe's calls, at Close
	done   sync.WaitGroup     // the probe goroutine
	close  sync.Once

	errors, fallbacks, recoveries, probeErrors atomic.Uint64
	fallLogged, backLogged                     atomic.Int64 // when a line of each kind was last written, Unix ns
}

// Stats is a snapshot of a Conn's counters, all since Open.
type Stats struct {
	Mode        Mode   // whether Redis is asked now
	Errors      uint64 // calls that failed (Trouble), each answered without Redis
	Fallbacks   uint64 // switches from Redis to doing without
	Recoveries  uint64 // switches to Redis, the first connection included
	ProbeErrors uint64 // health probes that found Redis still away
}

// Open checks o and starts the health probe, which connects to Redis, and
// returns once the probe has tried once (at most DialTimeout and Timeout
// later). Only bad Options are an error.
func Open(o Options) (*Conn, error) {
	opt, err := o.fill()
	if err != nil {
		return nil, err
	}
	if o.Probe == nil {
		return nil, o.bad("no probe")
	}
	c := &Conn{o: o, opt: opt, wake: make(chan struct{}, 1)}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.mode.Store(int32(ModeLocal))
	first := make(chan struct{})
	c.done.Add(1)
	go c.probeLoop(first)
	<-first
	return c, nil
}

// Close stops the health probe and closes the connection. It waits for
// the probe to end (at most a DialTimeout) and for the client's goodbye
// (which it gives up after a second when Redis does not answer). Close is
// idempotent.
func (c *Conn) Close() {
	c.close.Do(func() {
		c.mode.Store(int32(ModeClosed))
		c.cancel()
		c.done.Wait()
		if cl := c.client.Load(); cl != nil {
			(*cl).Close()
		}
	})
}

// Client is the client to ask, or nil when Redis must not be asked.
func (c *Conn) Client() valkey.Client {
	if Mode(c.mode.Load()) != ModeRedis {
		return nil
	}
	if cl := c.client.Load(); cl != nil {
		return *cl
	}
	return nil
}

// Timeout is the bound of every call a request waits for.
func (c *Conn) Timeout() time.Duration { return c.o.Timeout }

// Stats returns the connection's mode and counters.
func (c *Conn) Stats() Stats {
	return Stats{
		Mode:        Mode(c.mode.Load()),
		Errors:      c.errors.Load(),
		Fallbacks:   c.fallbacks.Load(),
		Recoveries:  c.recoveries.Load(),
		ProbeErrors: c.probeErrors.Load(),
	}
}

// Trouble handles a Redis call that failed: unless the caller's own
// context ended (which says nothing of Redis), it is counted, and Redis
// is not asked again until the probe finds it taking calls. Every error
// does: an error reply as much as a timeout, since a Redis that refuses
// writes (a replica after a failover, a full memory) would otherwise be
// read while the writes went nowhere. It reports whether this call
// switched the connection away from Redis.
func (c *Conn) Trouble(ctx context.Context, call string, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	n := c.errors.Add(1)
	if !c.mode.CompareAndSwap(int32(ModeRedis), int32(ModeLocal)) {
		return false // another call got there first, or Close
	}
	f := c.fallbacks.Add(1)
	select {
	case c.wake <- struct{}{}:
	default:
	}
	c.logf(&c.fallLogged, c.o.What+": Redis failed; "+c.o.Away+" until it answers again",
		"call", call, "error", err, "errors", n, "fallbacks", f)
	return true
}

// probeLoop is the connection's one goroutine. While Redis is in use it
// sleeps until a call sees it fail; while it is away it probes Redis, at
// once and then after a backoff from ProbeMin doubling to ProbeMax, and
// puts Redis back in use when a probe succeeds. It closes first after its
// first probe, and ends at Close.
func (c *Conn) probeLoop(first chan<- struct{}) {
	defer c.done.Done()
	backoff := time.Duration(0) // the first probe at once
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		if Mode(c.mode.Load()) == ModeRedis {
			select {
			case <-c.ctx.Done():
				return
			case <-c.wake:
				backoff = 0 // a fresh failure: probe at once
			}
			continue
		}
		if backoff > 0 {
			timer.Reset(backoff)
			select {
			case <-c.ctx.Done():
				return
			case <-timer.C:
			}
		}
		err := c.probe()
		switch {
		case c.ctx.Err() != nil:
		case err == nil:
			if c.mode.CompareAndSwap(int32(ModeLocal), int32(ModeRedis)) {
				r := c.recoveries.Add(1)
				if c.fallbacks.Load() > 0 || c.probeErrors.Load() > 0 {
					c.logf(&c.backLogged, c.o.What+": Redis answers again; "+c.o.Back,
						"recoveries", r, "errors", c.errors.Load())
				}
			}
			backoff = 0
		default:
			n := c.probeErrors.Add(1)
			if n == 1 && c.fallbacks.Load() == 0 {
				// Redis was never reached: say so at start.
				c.logf(&c.fallLogged, c.o.What+": Redis does not answer; "+c.o.Away+" until it does",
					"error", err)
			}
			backoff = min(max(2*backoff, c.o.ProbeMin), c.o.ProbeMax)
		}
		if first != nil {
			close(first) // after the mode is set: Open returns with it
			first = nil
		}
		if c.ctx.Err() != nil {
			return
		}
	}
}

// probe connects if need be and runs the store's probe.
func (c *Conn) probe() error {
	cl := c.client.Load()
	if cl == nil {
		// valkey.NewClient connects at once, bounded by the dialer's
		// timeout, and fails when Redis does not answer.
		nc, err := valkey.NewClient(c.opt)
		if err != nil {
			return err
		}
		if c.ctx.Err() != nil { // Close came meanwhile and will not see it
			nc.Close()
			return c.ctx.Err()
		}
		c.client.Store(&nc)
		cl = &nc
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.o.Timeout)
	defer cancel()
	return c.o.Probe(ctx, *cl)
}

// logf writes a line at Warn (at Info for going back to Redis), unless a
// line of its kind went out less than LogEvery ago: an outage fails every
// call, and the counts in the next line say how many.
func (c *Conn) logf(last *atomic.Int64, msg string, args ...any) {
	now := time.Now().UnixNano()
	prev := last.Load()
	if prev != 0 && now-prev < int64(c.o.LogEvery) || !last.CompareAndSwap(prev, now) {
		return
	}
	level := slog.LevelWarn
	if last == &c.backLogged {
		level = slog.LevelInfo
	}
	c.o.Logger.Log(context.Background(), level, msg, args...)
}

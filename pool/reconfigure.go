package pool

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Reconfigure changes the settings of a running pool, as a reload of the
// daemon's configuration does. When the helper command, its arguments,
// environment, directory, transport or protocol change, the new settings
// are proved first, by Probe: a command that cannot start or cannot answer
// is refused with Probe's error (ctx bounds the probe), and the old helpers
// go on serving as if nothing happened. Proved, helpers started under the
// old settings are replaced one at a time, between requests, so no request
// fails for it; a slot waiting out a restart delay starts at once, and the
// new command starts out trusted (see Config.OutOfStepLimit). Timeouts and
// recycling limits apply to new requests at once; a larger Processes
// starts more helpers, a smaller one retires the extra ones, again one at
// a time. Calls are serialized.
//
// Mode, QueueSize (zero keeps it), Logger, Observer and the restart policy are fixed
// when the pool is made; changing Mode or QueueSize is an error, and the
// pool is left as it was.
func (p *Pool) Reconfigure(ctx context.Context, cfg Config) error {
	if cfg.QueueSize == 0 {
		cfg.QueueSize = p.cfg.QueueSize
	}
	c, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if c.Mode != p.cfg.Mode {
		return fmt.Errorf("pool: the mode cannot change while running (%s to %s): restart instead", p.cfg.Mode, c.Mode)
	}
	if c.QueueSize != p.cfg.QueueSize {
		return errors.New("pool: the queue size cannot change while running: restart instead")
	}
	c.Logger, c.Observer = p.cfg.Logger, p.cfg.Observer
	c.RestartDelay, c.MaxRestartDelay, c.HealthyAfter = p.cfg.RestartDelay, p.cfg.MaxRestartDelay, p.cfg.HealthyAfter

	p.reconf.Lock()
	defer p.reconf.Unlock()
	old := p.conf() // only Reconfigure changes it
	respawn := !slices.Equal(c.Command, old.Command) || !slices.Equal(c.Env, old.Env) ||
		c.Dir != old.Dir || c.Transport != old.Transport || c.Protocol != old.Protocol
	if respawn {
		if err := probeCommand(ctx, &c); err != nil {
			return fmt.Errorf("pool: new helper settings not applied: %w", err)
		}
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return ErrClosed
	}
	p.cur.Store(&c)
	if respawn {
		p.specGen.Add(1)
		p.resetTrustLocked()
	}
	var live []*slot
	for _, s := range p.slots {
		if !s.removed.Load() {
			live = append(live, s)
		}
	}
	switch {
	case c.Processes > len(live):
		p.addSlots(c.Processes - len(live))
	case c.Processes < len(live):
		for _, s := range live[c.Processes:] {
			s.removed.Store(true)
		}
	}
	for _, s := range p.slots {
		s.wake()
	}
	p.signalChangeLocked() // the count WaitReady waits for may have changed
	p.log.Info("pool reconfigured", "helpers_replaced", respawn, "processes", c.Processes,
		"timeout", c.Timeout, "protocol", c.Protocol)
	return nil
}

// removeSlot forgets a slot that Reconfigure removed, once it has ended.
func (p *Pool) removeSlot(s *slot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.slots = slices.DeleteFunc(p.slots, func(x *slot) bool { return x == s })
	p.signalChangeLocked()
}

package main

import (
	"context"
	"fmt"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/authpool/authpool/pool"
)

// probeUser is asked about at start. The answer does not matter, only that
// one comes; the name is not a user's so that no helper log mistakes it for
// one.
const probeUser = "authpool-startup-probe"

// helpersRun refuses to start a server whose helper cannot answer: pool.New
// succeeds even when the helper command does not exist or dies at once,
// and the problem would show only as failed logins.
//
// Any answer, yes or no, means a helper runs; every error means none does
// (ErrHelperExited: it died before answering; ErrUnavailable: none can
// start; ErrTimeout: it did not answer; ErrProtocol: it answered
// something that is not an answer).
//
// TODO: when package pool offers a readiness check (pool.WaitReady), this
// whole function becomes that single call.
func helpersRun(ctx context.Context, p *pool.Pool, domain jid.JID, timeout time.Duration) error {
	// A new helper's first answer may take twice the timeout (the pool's
	// StartTimeout, which defaults to Timeout, covers its start-up).
	ctx, cancel := context.WithTimeout(ctx, 2*timeout+time.Second)
	defer cancel()
	if _, err := p.IsUser(ctx, probeUser, domain.String()); err != nil {
		return fmt.Errorf("the helper does not answer, so no one could log in: %w", err)
	}
	return nil
}

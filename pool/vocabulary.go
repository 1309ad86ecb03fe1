package pool

// The pool's vocabulary for what a slot is doing and why a helper ended. The
// values are stable: they appear in HelperStats, in `authpool status` (text
// and JSON), in logs and as metric label values, where every value is
// snake_case without spaces.

// HelperState is what one of the pool's slots is doing
// (HelperStats.State; the authpool_helpers{state} metric).
type HelperState string

// The helper states.
const (
	StateStarting  HelperState = "starting"  // a helper is being started
	StateReady     HelperState = "ready"     // a helper is running and can be handed requests
	StateBackoff   HelperState = "backoff"   // waiting before the next start
	StateStopped   HelperState = "stopped"   // the pool is shut down
	StateUntrusted HelperState = "untrusted" // the command is untrusted: no helper runs
	StateProbing   HelperState = "probing"   // a helper is being probed to trust the command again
)

// HelperStates lists every HelperState, in the order of the list above.
func HelperStates() []HelperState {
	return []HelperState{StateStarting, StateReady, StateBackoff, StateStopped, StateUntrusted, StateProbing}
}

// RetireReason says why a helper ended (Observer.HelperEnded; the
// authpool_helper_restarts_total{reason} metric; the "reason" of the
// "helper replaced" and "helper recycled" log lines).
type RetireReason string

// The retire reasons.
const (
	RetireExit         RetireReason = "exit"           // it exited by itself (or closed its output)
	RetireSignal       RetireReason = "signal"         // it was killed by a signal nobody in the pool sent
	RetireTimeout      RetireReason = "timeout"        // it did not answer within Config.Timeout
	RetireProtocol     RetireReason = "protocol_error" // it wrote something that is not an answer, or out of turn
	RetireError        RetireReason = "error"          // talking to it failed some other way
	RetireCallerGaveUp RetireReason = "caller_gave_up" // the caller left while it was answering; its answer could go to the next one
	RetireRecycle      RetireReason = "recycle"        // Config.MaxRequests or Config.MaxAge reached
	RetireReload       RetireReason = "reload"         // Reconfigure changed how helpers are started
	RetirePoolShrunk   RetireReason = "pool_shrunk"    // Reconfigure lowered Processes
	RetireUntrusted    RetireReason = "untrusted"      // the command stopped being trusted
	RetireProbeFailed  RetireReason = "probe_failed"   // a replacement, or a probe, failed to prove the command
	RetireShutdown     RetireReason = "shutdown"       // the pool is shutting down
)

// RetireReasons lists every RetireReason, in the order of the list above.
func RetireReasons() []RetireReason {
	return []RetireReason{RetireExit, RetireSignal, RetireTimeout, RetireProtocol, RetireError,
		RetireCallerGaveUp, RetireRecycle, RetireReload, RetirePoolShrunk, RetireUntrusted,
		RetireProbeFailed, RetireShutdown}
}

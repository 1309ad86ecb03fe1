package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// DefenceWatcher is implemented by targets that can read how often the
// daemon's guessing defence slowed password checks down: checks delayed
// by a penalty plus answers held behind a failure beside them, since the
// daemon started. ok is false when the daemon reports no defence (it is
// off, or the daemon is too old to say).
type DefenceWatcher interface {
	DefenceCount(ctx context.Context) (n uint64, ok bool)
}

// DefenceCount asks the daemon for its status report on a connection of
// its own, as `authpool status` does, and reads the defence's counters.
func (t *SocketTarget) DefenceCount(ctx context.Context) (uint64, bool) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", t.path)
	if err != nil {
		return 0, false
	}
	defer nc.Close()
	deadline := time.Now().Add(2 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	nc.SetDeadline(deadline)
	if _, err := nc.Write([]byte("1 status\n")); err != nil {
		return 0, false
	}
	line, err := bufio.NewReaderSize(nc, 64<<10).ReadSlice('\n')
	report, found := bytes.CutPrefix(line, []byte("1 status "))
	if err != nil || !found {
		return 0, false
	}
	var st struct {
		Penalty *struct {
			Delayed uint64 `json:"delayed"`
			Held    uint64 `json:"held"`
		} `json:"penalty"`
	}
	if json.Unmarshal(report, &st) != nil || st.Penalty == nil {
		return 0, false
	}
	return st.Penalty.Delayed + st.Penalty.Held, true
}

// defenceNote says, when the daemon's guessing defence slowed n checks of
// the run down, that the report measures it rather than the helpers.
func defenceNote(n uint64) string {
	return fmt.Sprintf("the daemon's guessing defence slowed %d password checks of this run down: "+
		"the workload's wrong passwords, sent without a client address, look like guessing to it, "+
		"so the figures above measure its penalties, not the helpers; to load-test the helpers "+
		"through a daemon, start it with --penalty-base 0 (or use a workload with no wrong password)", n)
}

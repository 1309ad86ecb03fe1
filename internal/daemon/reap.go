package daemon

import (
	"log/slog"

	"github.com/authpool/authpool/ptyproc"
)

// reapEscapedDescendants makes the daemon kill and reap the processes its
// helpers leave behind outside their process group (see ptyproc.Reaper).
// The returned function ends it once the helpers are gone.
//
// A subreaper, rather than the cgroup systemd gives the service: it works
// under any supervisor and without cgroup delegation, it acts when a
// helper is recycled, not only when the whole service stops, and under
// systemd the cgroup still catches what escapes even this (descendants of
// a daemon killed with SIGKILL). It makes the process the subreaper of all
// its children: a program that runs the daemon in process must not start
// children by other means meanwhile (ptyproc.Reaper).
func reapEscapedDescendants(log *slog.Logger) (stop func()) {
	r, err := ptyproc.StartReaper(ptyproc.ReaperConfig{Logger: log})
	if err != nil {
		log.Error("processes that helpers leave behind will not be killed", "err", err)
		return func() {}
	}
	return func() {
		if err := r.Close(); err != nil {
			log.Warn("killing what helpers left behind", "err", err)
		}
	}
}

package ptyproc

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// helpers is the set of this process's children that Start started and
// that are not reaped yet. It is process-wide because a process's children
// are: a Reaper tells the helpers from the processes it adopted by it.
var helpers = struct {
	// fork is held for reading from a helper's fork until its pid is
	// recorded, and while a reaped helper's pid is forgotten; a Reaper
	// holds it for writing while it decides which children are helpers, so
	// that it never sees a helper whose pid is not recorded yet.
	fork sync.RWMutex
	mu   sync.Mutex
	pids map[int]*Process
}{pids: make(map[int]*Process)}

func addHelper(p *Process) {
	helpers.mu.Lock()
	helpers.pids[p.pid] = p
	helpers.mu.Unlock()
}

// forgetHelper forgets p once it is reaped; its pid may already be a new
// helper's.
func forgetHelper(p *Process) {
	helpers.fork.RLock()
	helpers.mu.Lock()
	if helpers.pids[p.pid] == p {
		delete(helpers.pids, p.pid)
	}
	helpers.mu.Unlock()
	helpers.fork.RUnlock()
}

func isHelper(pid int) bool {
	helpers.mu.Lock()
	defer helpers.mu.Unlock()
	_, ok := helpers.pids[pid]
	return ok
}

// ChildrenOf lists pid's children, from /proc/PID/task/*/children (one
// file per thread), or by scanning /proc when the kernel lacks those files.
func ChildrenOf(pid int) []int {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	if len(tasks) > 0 {
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if n, err := strconv.Atoi(f); err == nil {
					out = append(out, n)
				}
			}
		}
		return out
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(n); ok && st.ppid == pid {
			out = append(out, n)
		}
	}
	return out
}

// procStat is what a Reaper needs of /proc/PID/stat.
type procStat struct {
	comm  string
	ppid  int
	pgid  int
	start uint64 // clock ticks after boot: tells a process from a later one with its pid
	state byte
}

func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// The command name, in parentheses, may hold anything: cut at the last ')'.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procStat{}, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 20 {
		return procStat{}, false
	}
	st := procStat{comm: string(b[open+1 : end]), state: f[0][0]}
	var e1, e2, e3 error
	st.ppid, e1 = strconv.Atoi(f[1])
	st.pgid, e2 = strconv.Atoi(f[2])
	st.start, e3 = strconv.ParseUint(f[19], 10, 64)
	return st, e1 == nil && e2 == nil && e3 == nil
}

// ProcInfo is what /proc/PID/stat says of a process, as far as a caller
// needs it to tell a process from a later one with its pid and to end it.
type ProcInfo struct {
	Comm  string // the command name, as the kernel keeps it (at most 15 bytes)
	PPid  int
	PGid  int
	Start uint64 // clock ticks after boot
	State byte   // 'R', 'S', 'Z', ...
}

// ReadProcInfo reads pid's /proc/PID/stat; ok is false when there is no such
// process (or it could not be read).
func ReadProcInfo(pid int) (info ProcInfo, ok bool) {
	st, ok := readStat(pid)
	if !ok {
		return ProcInfo{}, false
	}
	return ProcInfo{Comm: st.comm, PPid: st.ppid, PGid: st.pgid, Start: st.start, State: st.state}, true
}

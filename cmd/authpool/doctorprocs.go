package main

import (
	"syscall"
	"time"

	"github.com/authpool/authpool/ptyproc"
)

// leftProcess is a process a helper started, as doctor saw it while the
// helper ran.
type leftProcess struct {
	Pid  int    `json:"pid"`
	Comm string `json:"command"`
	info ptyproc.ProcInfo
}

// maxTracked bounds how many of a helper's descendants doctor follows.
const maxTracked = 256

// descendants lists pid's descendants, breadth first.
func descendants(pid int) []leftProcess {
	var out []leftProcess
	queue := []int{pid}
	seen := map[int]bool{pid: true}
	for len(queue) > 0 && len(out) < maxTracked {
		parent := queue[0]
		queue = queue[1:]
		for _, c := range ptyproc.ChildrenOf(parent) {
			if seen[c] {
				continue
			}
			seen[c] = true
			if info, ok := ptyproc.ReadProcInfo(c); ok {
				out = append(out, leftProcess{Pid: c, Comm: info.Comm, info: info})
				queue = append(queue, c)
			}
		}
	}
	return out
}

// survivorWait is how long the processes a stopped helper leaves get to
// end by themselves before they count as left behind.
const survivorWait = 500 * time.Millisecond

// survivors returns the processes of tree, listed while their helper ran,
// that are still there once it has been stopped and its process group
// killed (survivorWait allowed), and kills them: nothing doctor started
// outlives it.
func survivors(tree []leftProcess) []leftProcess {
	deadline := time.Now().Add(survivorWait)
	var left []leftProcess
	for _, p := range tree {
		for p.alive() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if p.alive() {
			left = append(left, p)
		}
	}
	for _, p := range left {
		if p.alive() { // still the same process, not a later one with its pid
			if p.info.PGid == p.Pid {
				syscall.Kill(-p.Pid, syscall.SIGKILL)
			}
			syscall.Kill(p.Pid, syscall.SIGKILL)
		}
	}
	// A signal is delivered, and its process ends, a moment later: doctor
	// returns once they are gone (a process stuck in the kernel may take
	// longer: it is not waited for beyond this).
	deadline = time.Now().Add(2 * time.Second)
	for _, p := range left {
		for p.alive() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return left
}

// alive reports whether p is still the process that was seen, and has not
// exited (a zombie waiting to be reaped has).
func (p leftProcess) alive() bool {
	info, ok := ptyproc.ReadProcInfo(p.Pid)
	return ok && info.Start == p.info.Start && info.State != 'Z' && info.State != 'X'
}

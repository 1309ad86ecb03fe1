package ptyproc

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReaperKillsEscapedDescendants: a helper's grandchild that called
// setsid survives the kill of the helper's process group; with a Reaper it
// is killed and reaped (no zombie) whether the helper is closed or exits by
// itself. Helpers that live, and children this process had before, are
// left alone.
func TestReaperKillsEscapedDescendants(t *testing.T) {
	bystander := exec.Command("sleep", "60")
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		bystander.Process.Kill()
		bystander.Wait()
	}()
	r, err := StartReaper(ReaperConfig{Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := StartReaper(ReaperConfig{}); err != ErrReaperRunning {
		t.Errorf("second Reaper: %v", err)
	}
	bystanderStart := startOf(bystander.Process.Pid)

	for _, how := range []string{"closed", "exited"} {
		t.Run(how, func(t *testing.T) {
			live := start(t, fake("hexecho", Pipe))
			p := start(t, fake("escaper", Pipe))
			gpid, err := strconv.Atoi(readLine(t, p, bufio.NewReader(p)))
			if err != nil {
				t.Fatal(err)
			}
			gstart := startOf(gpid)
			if gstart == 0 {
				t.Fatalf("grandchild %d not running", gpid)
			}
			if how == "closed" {
				p.Close()
			} else {
				p.SetWriteDeadline(time.Now().Add(10 * time.Second))
				p.Write([]byte("exit\n"))
				<-p.Done()
			}
			waitFor(t, fmt.Sprintf("grandchild %d to be killed and reaped", gpid), func() bool {
				return startOf(gpid) != gstart
			})
			select {
			case <-live.Done():
				t.Fatal("the Reaper killed a live helper")
			default:
			}
			if startOf(bystander.Process.Pid) != bystanderStart {
				t.Fatal("the Reaper killed a child that was there before it")
			}
		})
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// startOf is pid's start time, 0 once it is gone entirely (a zombie is
// not).
func startOf(pid int) uint64 {
	st, _ := readStat(pid)
	return st.start
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHelperGetsOnlyStdio: a descriptor this process holds without
// close-on-exec (inherited, or dup'ed) does not reach a helper.
func TestHelperGetsOnlyStdio(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	leak, err := unix.Dup(int(f.Fd())) // dup(2): no close-on-exec
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(leak)
	for _, tr := range transports {
		if _, err := unix.FcntlInt(uintptr(leak), unix.F_SETFD, 0); err != nil {
			t.Fatal(err)
		}
		p := start(t, Config{Args: []string{"cat"}, Transport: tr})
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.Pid()))
		if err != nil {
			t.Fatal(err)
		}
		var fds []int
		for _, e := range ents {
			n, _ := strconv.Atoi(e.Name())
			fds = append(fds, n)
		}
		slices.Sort(fds)
		if !slices.Equal(fds, []int{0, 1, 2}) {
			t.Errorf("%s: helper has descriptors %v, want 0, 1, 2", tr, fds)
		}
	}
}

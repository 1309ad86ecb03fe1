package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ProcMem is a process's memory as /proc/PID/status tells it, in bytes.
type ProcMem struct {
	RSS int64 // VmRSS: resident now
	HWM int64 // VmHWM: peak resident
}

// ReadProcMem reads pid's VmRSS and VmHWM.
func ReadProcMem(pid int) (ProcMem, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return ProcMem{}, err
	}
	var m ProcMem
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if k == "VmRSS" {
			m.RSS = n << 10
		} else {
			m.HWM = n << 10
		}
		found++
	}
	if found < 2 {
		// A zombie has no memory lines.
		return ProcMem{}, fmt.Errorf("pid %d: no VmRSS/VmHWM (exited?)", pid)
	}
	return m, nil
}

// processAge is how long pid has been running; zero if unknown.
func processAge(pid int) time.Duration {
	f, err := statFields(pid)
	if err != nil || len(f) < 20 {
		return 0
	}
	// Field 22 of stat, the start time in clock ticks since boot; the
	// kernel's USER_HZ is 100 on every Linux architecture Go supports.
	start, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return 0
	}
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	up, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		return 0
	}
	return time.Duration((up - float64(start)/100) * float64(time.Second))
}

// statFields returns the fields of /proc/PID/stat after the command name,
// starting with the state (field 3).
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	// The command name, in parentheses, may hold anything: skip past it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, errors.New("bad stat")
	}
	return strings.Fields(string(b[i+1:])), nil
}

// PeerPID returns the process id of the process at the other end of a Unix
// socket connection (SO_PEERCRED).
func PeerPID(c net.Conn) (int, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, errors.New("not a Unix socket")
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return int(cred.Pid), nil
}

package bench

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/ptyproc"
)

// authAPI is a fake of the daemon's HTTP API (Prosody's mod_auth_http
// contract): alice's password is "wonderland", or what set_password made it.
type authAPI struct {
	mu   sync.Mutex
	pass map[string]string
}

func (a *authAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	key := r.Form.Get("user") + "@" + r.Form.Get("server")
	pw, known := a.pass[key]
	answer := func(b bool) {
		if b {
			w.Write([]byte("true"))
		} else {
			w.Write([]byte("false"))
		}
	}
	switch {
	case r.Form.Get("user") == "broken":
		http.Error(w, "oops", http.StatusInternalServerError)
	case r.Method == http.MethodGet && r.URL.Path == "/auth/check_password":
		answer(known && pw == r.Form.Get("pass"))
	case r.Method == http.MethodGet && r.URL.Path == "/auth/user_exists":
		answer(known)
	case r.Method == http.MethodPost && r.URL.Path == "/auth/set_password":
		if !known {
			http.Error(w, "no such user", http.StatusNotFound)
			return
		}
		a.pass[key] = r.PostForm.Get("pass")
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

func TestHTTPTarget(t *testing.T) {
	api := &authAPI{pass: map[string]string{"alice@example.com": "wonder land:&=?"}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	ht, err := NewHTTP(srv.URL+"/auth/", 4, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ht.Close()
	req := func(op framing.Op, user, pw string) framing.Request {
		return framing.Request{Op: op, User: user, Server: "example.com", Password: pw}
	}
	tests := []struct {
		name     string
		req      framing.Request
		want     bool
		wantKind string // error kind, "" for none
	}{
		{"right password", req(framing.OpAuth, "alice", "wonder land:&=?"), true, ""},
		{"wrong password", req(framing.OpAuth, "alice", "wonder"), false, ""},
		{"unknown user", req(framing.OpAuth, "bob", "x"), false, ""},
		{"user exists", req(framing.OpIsUser, "alice", ""), true, ""},
		{"user does not", req(framing.OpIsUser, "bob", ""), false, ""},
		{"set password", req(framing.OpSetPass, "alice", "new one"), true, ""},
		{"new password works", req(framing.OpAuth, "alice", "new one"), true, ""},
		{"set password of nobody", req(framing.OpSetPass, "bob", "x"), false, ""},
		{"server error", req(framing.OpAuth, "broken", "S3cret"), false, "http_500"},
		{"no such operation", req(framing.OpRemoveUser, "alice", ""), false, "badrequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ht.Do(context.Background(), 0, tt.req)
			if tt.wantKind != "" {
				if err == nil || ErrorKind(err) != tt.wantKind {
					t.Fatalf("err = %v (%s), want kind %s", err, ErrorKind(err), tt.wantKind)
				}
				if strings.Contains(err.Error(), "S3cret") {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("= %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := NewHTTP("ftp://x", 1, 0); err == nil {
		t.Error("NewHTTP accepted a non-HTTP URL")
	}
}

// lineServer answers the generic line protocol on a Unix socket: yes when
// the password is "right" or the op is isuser. It answers in order, and
// flushes only when no further request is buffered, so pipelined requests
// get batched answers.
func lineServer(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				br, bw := bufio.NewReader(c), bufio.NewWriter(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					req, err := framing.ParseRequest([]byte(strings.TrimSuffix(line, "\n")))
					if err == nil && (req.Op == framing.OpIsUser || req.Password == "right") {
						bw.WriteString("1\n")
					} else {
						bw.WriteString("0\n")
					}
					if br.Buffered() == 0 {
						bw.Flush()
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return path
}

func TestSocketTarget(t *testing.T) {
	path := lineServer(t)
	tests := []struct {
		name           string
		conns, workers int
	}{
		{"a connection per worker", 4, 4},
		{"pipelined", 2, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := DialSocket(path, tt.conns, tt.workers, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if st.DaemonPID() != os.Getpid() {
				t.Errorf("DaemonPID = %d, want this process (%d)", st.DaemonPID(), os.Getpid())
			}
			rep, err := Run(context.Background(), Config{
				Target: st, Workload: workload(), Concurrency: tt.workers, Requests: 2000,
			})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Wrong != 0 || rep.Errors != 0 || rep.Yes+rep.No != 2000 {
				t.Errorf("wrong %d, errors %d %v, answered %d", rep.Wrong, rep.Errors, rep.ErrorKinds, rep.Yes+rep.No)
			}
			if rep.Daemon == nil || rep.Daemon.PeakRSS <= 0 {
				t.Errorf("daemon memory not measured: %+v", rep.Daemon)
			}
		})
	}
}

func TestSocketTargetConnectionLost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2 {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close() // hang up without answering
		}
	}()
	for _, workers := range []int{1, 2} { // direct, then pipelined
		st, err := DialSocket(path, 1, workers, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.Do(context.Background(), 0, framing.Request{Op: framing.OpIsUser, User: "a", Server: "b"})
		if ErrorKind(err) != "connection" {
			t.Errorf("workers %d: err = %v, want a connection error", workers, err)
		}
		st.Close()
	}
	<-done
}

func TestProcMemAndChildren(t *testing.T) {
	m, err := ReadProcMem(os.Getpid())
	if err != nil || m.RSS <= 0 || m.HWM < m.RSS {
		t.Fatalf("ReadProcMem(self) = %+v, %v", m, err)
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if kids := ptyproc.ChildrenOf(os.Getpid()); !slices.Contains(kids, cmd.Process.Pid) {
		t.Errorf("ptyproc.ChildrenOf(self) = %v, want it to hold %d", kids, cmd.Process.Pid)
	}
	if _, err := ReadProcMem(1 << 30); err == nil {
		t.Error("ReadProcMem of no process succeeded")
	}
}

func TestMemWatcherFlagsGrowth(t *testing.T) {
	tests := []struct {
		name        string
		rss         []int64 // per sample, after the helper has answered
		wantLeaking bool
	}{
		{"steady", []int64{10 << 20, 10 << 20, 10<<20 + 4096}, false},
		{"growing", []int64{10 << 20, 12 << 20, 14 << 20}, true},
		{"small absolute growth", []int64{100 << 10, 150 << 10, 300 << 10}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &memWatcher{threshold: DefaultLeakThreshold, byPID: map[int]*helperMem{}}
			h := &helperMem{pid: 7, firstTick: 1}
			w.byPID[7] = h
			for i, rss := range tt.rss {
				w.tick++
				h.ticks++
				h.lastTick = w.tick
				m := ProcMem{RSS: rss, HWM: rss}
				if i == 0 {
					h.hasBase, h.base, h.baseServed = true, m, 10
				}
				h.last, h.lastServed = m, int64(10+1000*i)
				h.peak = max(h.peak, rss)
			}
			hr, _ := w.report()
			if len(hr) != 1 || hr[0].Leaking != tt.wantLeaking {
				t.Fatalf("report %+v, want leaking %v", hr, tt.wantLeaking)
			}
			if tt.wantLeaking && hr[0].GrowthPer1000 != (2<<20) {
				t.Errorf("growth per 1000 = %d, want 2 MiB", hr[0].GrowthPer1000)
			}
		})
	}
}

func TestProcessAge(t *testing.T) {
	if a := processAge(os.Getpid()); a <= 0 || a > time.Hour {
		t.Errorf("processAge(self) = %v", a)
	}
}

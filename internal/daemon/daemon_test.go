package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/authpool/authpool/internal/testutil"
	"github.com/authpool/authpool/penalty"
	"github.com/authpool/authpool/pool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// script is the absolute path of a helper in testscripts/.
func script(t *testing.T, name string) string { return testutil.ScriptPath(t, name) }

// neverLogged are the passwords the tests send that a log could hold.
var neverLogged = []string{"wonderland", "builder", "s3cret-hang"}

// running is a daemon run in process by a test, with its own signals.
type running struct {
	t      *testing.T
	socket string
	logs   *testutil.SyncBuffer
	sig    chan os.Signal
	done   chan error
}

// start runs New(cfg) in process, on a fresh socket, with the test's
// signals and a log it can read, and waits until the daemon says it is
// serving. The daemon is stopped at cleanup.
func start(t *testing.T, cfg Config) *running {
	t.Helper()
	r := &running{t: t, logs: &testutil.SyncBuffer{}, sig: make(chan os.Signal, 1), done: make(chan error, 1)}
	if cfg.Socket == "" {
		cfg.Socket = filepath.Join(t.TempDir(), "authpool.sock")
	}
	r.socket = cfg.Socket
	cfg.Logger = slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Signals = r.sig
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- d.Run(context.Background()) }()
	t.Cleanup(func() {
		select {
		case r.sig <- syscall.SIGTERM:
		case <-r.done:
			return
		}
		if err := r.wait(30 * time.Second); err != nil {
			t.Errorf("Run = %v", err)
		}
		for _, pw := range neverLogged {
			if strings.Contains(r.logs.String(), pw) {
				t.Errorf("password %q in the daemon's log", pw)
			}
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", r.logs.String())
		}
	})
	r.within("the daemon to serve", func() bool { return strings.Contains(r.logs.String(), "authpool serving") })
	return r
}

// wait waits, at most bound, for Run to return, and returns its error.
func (r *running) wait(bound time.Duration) error {
	r.t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(bound):
		r.t.Fatalf("Run did not return within %v:\n%s", bound, r.logs.String())
		return nil
	}
}

// stop sends SIGTERM, requires Run to return nil within 30s, and returns
// how long it took.
func (r *running) stop() time.Duration {
	r.t.Helper()
	start := time.Now()
	r.sig <- syscall.SIGTERM
	if err := r.wait(30 * time.Second); err != nil {
		r.t.Fatalf("Run = %v after SIGTERM", err)
	}
	return time.Since(start)
}

func (r *running) within(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		select {
		case err := <-r.done:
			r.done <- err
			r.t.Fatalf("waiting for %s: Run returned %v:\n%s", what, err, r.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s:\n%s", what, r.logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ask sends lines on a new connection and returns the answers.
func (r *running) ask(lines ...string) []string {
	r.t.Helper()
	c, err := net.Dial("unix", r.socket)
	if err != nil {
		r.t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprint(c, strings.Join(lines, "\n")+"\n")
	br := bufio.NewReader(c)
	out := make([]string, len(lines))
	for i := range lines {
		a, err := br.ReadString('\n')
		if err != nil {
			r.t.Fatalf("answer %d: %v", i, err)
		}
		out[i] = strings.TrimSuffix(a, "\n")
	}
	return out
}

// status asks for the daemon's status over its socket.
func (r *running) status() Status {
	r.t.Helper()
	a := r.ask("1 status")[0]
	var st Status
	if err := json.Unmarshal([]byte(strings.TrimPrefix(a, "1 status ")), &st); err != nil {
		r.t.Fatalf("status %q: %v", a, err)
	}
	return st
}

// TestRunServesReloadsAndStops runs the daemon in process on a real
// helper: it answers over the socket, a SIGHUP replaces the helpers with
// the Perl sample's and lowers the log level, and a SIGTERM stops it;
// then the socket file is gone, and (TestMain) so is every goroutine.
func TestRunServesReloadsAndStops(t *testing.T) {
	var level slog.LevelVar
	level.Set(slog.LevelDebug)
	reloaded := make(chan struct{}, 1)
	r := start(t, Config{
		Pool:  pool.Config{Command: []string{script(t, "sample.py")}, Processes: 2},
		Level: &level,
		Reload: func() (Reloaded, error) {
			reloaded <- struct{}{}
			return Reloaded{Pool: pool.Config{Command: []string{script(t, "sample.pl")}, Processes: 1}, Level: slog.LevelInfo}, nil
		},
	})
	if got := r.ask("auth:alice:example.com:wonderland", "auth:alice:example.com:wrong", "isuser:bob:example.com"); strings.Join(got, ",") != "1,0,1" {
		t.Fatalf("answers %v, want 1,0,1", got)
	}

	r.sig <- syscall.SIGHUP
	r.within("the reload", func() bool { return strings.Contains(r.logs.String(), "msg=reloaded") })
	if len(reloaded) != 1 {
		t.Fatal("Config.Reload not called")
	}
	if level.Level() != slog.LevelInfo {
		t.Errorf("log level %v after the reload, want INFO", level.Level())
	}
	r.within("one Perl helper", func() bool {
		st := r.status()
		if len(st.Helpers) != 1 || st.Helpers[0].PID == 0 {
			return false
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.Helpers[0].PID))
		return strings.Contains(string(b), "sample.pl")
	})
	if got := r.ask("auth:bob:example.com:builder"); got[0] != "1" {
		t.Fatalf("after the reload: %v", got)
	}

	r.stop()
	if _, err := os.Stat(r.socket); !os.IsNotExist(err) {
		t.Errorf("socket file left behind: %v", err)
	}
	if !strings.Contains(r.logs.String(), "msg=stopped") {
		t.Errorf("no last line:\n%s", r.logs.String())
	}
}

// TestForcedShutdownWithinDeadline: requests with a helper that never
// answers, over the socket and over the HTTP API, when SIGTERM comes. Run
// returns once ShutdownTimeout has passed, the requests abandoned and
// their connections closed, not when the helpers would time out (a
// minute, twice over for a first request).
func TestForcedShutdownWithinDeadline(t *testing.T) {
	for _, mode := range []pool.Mode{pool.Blocking, pool.NonBlocking} {
		t.Run(mode.String(), func(t *testing.T) {
			httpSock := filepath.Join(t.TempDir(), "http.sock")
			r := start(t, Config{
				Pool:               pool.Config{Command: []string{script(t, "misbehave.py")}, Processes: 2, Mode: mode, Timeout: time.Minute},
				HTTP:               "unix:" + httpSock,
				HTTPInsecureNoAuth: true,
				ShutdownTimeout:    300 * time.Millisecond,
			})
			c, err := net.Dial("unix", r.socket)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprint(c, "auth:hang:example.com:s3cret-hang\n")
			hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", httpSock)
			}}}
			httpDone := make(chan error, 1)
			go func() {
				// From an address: the guessing defence runs one attempt
				// at a time per user when the address is unknown, as the
				// socket's is, and per (user, address) pair otherwise.
				resp, err := hc.Get("http://authpool/check_password?user=hang&server=example.com&pass=s3cret-hang&ip=192.0.2.1")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					err = fmt.Errorf("answered %s", resp.Status)
				}
				httpDone <- err
			}()
			r.within("both requests to reach the pool", func() bool { return r.status().Totals.Requests == 2 })

			if took := r.stop(); took > 20*time.Second {
				t.Errorf("shutdown took %v with a 300ms deadline", took)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
				t.Errorf("abandoned socket request got %q, %v; want its connection closed", b, err)
			}
			select {
			case err := <-httpDone:
				if err == nil || strings.Contains(err.Error(), "answered") {
					t.Errorf("abandoned HTTP request: %v, want its connection closed", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("the HTTP request was not abandoned")
			}
			hc.CloseIdleConnections()
			if !strings.Contains(r.logs.String(), "helpers killed before they finished") {
				t.Errorf("no word of the forced stop:\n%s", r.logs.String())
			}
		})
	}
}

// TestSIGTERMCutsReloadProbeShort: a reload whose new command never
// answers its probe is cut short by SIGTERM, and the daemon stops at once.
func TestSIGTERMCutsReloadProbeShort(t *testing.T) {
	called := make(chan int, 1)
	var r *running
	r = start(t, Config{
		Pool: pool.Config{Command: []string{script(t, "sample.py")}},
		Reload: func() (Reloaded, error) {
			called <- strings.Count(r.logs.String(), `msg="helper started"`)
			return Reloaded{Pool: pool.Config{Command: []string{"/bin/sleep", "3600"}, Timeout: time.Minute}}, nil
		},
	})
	r.sig <- syscall.SIGHUP
	var before int
	select {
	case before = <-called:
	case <-time.After(30 * time.Second):
		t.Fatal("Config.Reload not called")
	}
	r.within("the probe's helper to start", func() bool {
		return strings.Count(r.logs.String(), `msg="helper started"`) > before
	})
	if took := r.stop(); took > 20*time.Second {
		t.Errorf("SIGTERM during a probe: stopped after %v", took)
	}
	if !strings.Contains(r.logs.String(), "reload failed; keeping the running configuration") {
		t.Errorf("the cut probe was not reported:\n%s", r.logs.String())
	}
}

// TestStartRefusedCleansUp: a start that fails after the listeners are
// open (the HTTP API without credentials) returns the reason and leaves
// no socket file behind.
func TestStartRefusedCleansUp(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{
		Pool:    pool.Config{Command: []string{script(t, "sample.py")}},
		Socket:  filepath.Join(dir, "authpool.sock"),
		HTTP:    "unix:" + filepath.Join(dir, "http.sock"),
		Signals: make(chan os.Signal),
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background()); !errors.Is(err, errNoHTTPAuth) {
		t.Fatalf("Run = %v, want %v", err, errNoHTTPAuth)
	}
	for _, f := range []string{"authpool.sock", "http.sock"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", f, err)
		}
	}
	if err := d.Run(context.Background()); !errors.Is(err, ErrRunTwice) {
		t.Errorf("second Run = %v", err)
	}
}

// TestNoSocketRefused: no socket to serve (--socket "" and none from
// systemd) is refused with a reason; it used to reach Serve(nil).
func TestNoSocketRefused(t *testing.T) {
	d, err := New(Config{Pool: pool.Config{Command: []string{script(t, "sample.py")}}, Signals: make(chan os.Signal)})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "no socket to serve") {
		t.Fatalf("Run = %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	cmd := pool.Config{Command: []string{"x"}}
	secret := []byte(strings.Repeat("k", 32))
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no command", Config{}, "no helper command"},
		{"world-writable", Config{Pool: cmd, SocketMode: 0o666}, "world-writable"},
		{"negative connections", Config{Pool: cmd, MaxConnections: -1}, "cannot be negative"},
		{"per peer over per listener", Config{Pool: cmd, MaxConnections: 10, MaxConnectionsPerPeer: 11}, "is more than"},
		{"negative cache", Config{Pool: cmd, CacheTTL: -1}, "cannot be negative"},
		{"negative shutdown", Config{Pool: cmd, ShutdownTimeout: -1}, "cannot be negative"},
		{"secret without redis", Config{Pool: cmd, Shared: Shared{Secret: secret}}, "--cluster-secret-file needs --redis"},
		{"timeout without redis", Config{Pool: cmd, Shared: Shared{Timeout: time.Second}}, "--redis-timeout needs --redis"},
		{"redis without secret", Config{Pool: cmd, Shared: Shared{Redis: "redis://u:hunter2@h/"}}, "redis://u:xxxxx@h/ needs --cluster-secret-file"},
		{"short secret", Config{Pool: cmd, Shared: Shared{Redis: "unix:///r.sock", Secret: secret[:31]}}, "want at least 32"},
		{"negative redis timeout", Config{Pool: cmd, Shared: Shared{Redis: "unix:///r.sock", Secret: secret, Timeout: -1}}, "cannot be negative"},
		{"nothing shared", Config{Pool: cmd, Penalty: penalty.Config{Off: true}, Shared: Shared{Redis: "unix:///r.sock", Secret: secret}}, "nothing to share"},
		{"bad URL", Config{Pool: cmd, Shared: Shared{Redis: "redis://u:hunter2@h/?skip_verify=1", Secret: secret}}, `"skip_verify" not taken`},
	} {
		if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: New = %v, want %q and no password", tt.name, err, tt.want)
		}
	}
}

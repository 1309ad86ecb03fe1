package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/authpool/authpool/internal/testutil"
)

// fakePeers tells who a Unix socket client is from the name it bound:
// "uid-U-gid-G-N". Tests run as one user, and this stands in for others.
func fakePeers(c net.Conn) (Peer, error) {
	name := filepath.Base(c.RemoteAddr().String())
	var uid, gid uint32
	var n int
	if _, err := fmt.Sscanf(name, "uid-%d-gid-%d-%d", &uid, &gid, &n); err != nil {
		return Peer{}, fmt.Errorf("unnamed client %q", name)
	}
	return Peer{Known: true, GIDKnown: true, UID: uid, GID: gid}, nil
}

// fakeDialer dials path as the user fakePeers reads from the client's name.
type fakeDialer struct {
	t    *testing.T
	dir  string
	path string
	mu   sync.Mutex
	n    int
}

func newFakeDialer(t *testing.T, path string) *fakeDialer {
	return &fakeDialer{t: t, dir: t.TempDir(), path: path}
}

func (d *fakeDialer) dial(uid, gid uint32) net.Conn {
	d.t.Helper()
	d.mu.Lock()
	d.n++
	name := filepath.Join(d.dir, fmt.Sprintf("uid-%d-gid-%d-%d", uid, gid, d.n))
	d.mu.Unlock()
	c, err := net.DialUnix("unix", &net.UnixAddr{Name: name, Net: "unix"}, &net.UnixAddr{Name: d.path, Net: "unix"})
	if err != nil {
		d.t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	d.t.Cleanup(func() { c.Close() })
	return c
}

// getsAnswer reports whether c gets an answer to a request (true) or is
// closed unanswered (false).
func getsAnswer(t *testing.T, c net.Conn) bool {
	t.Helper()
	fmt.Fprint(c, "auth:ab:x:ba\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	switch {
	case line == "1\n":
		return true
	case err == io.EOF || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return false
	}
	t.Fatalf("answer %q, %v", line, err)
	return false
}

// TestOnePeerCannotTakeEveryPlace is finding 6 of issue 10: one permitted
// client holding every connection (each kept busy, so no idle timeout
// ends it) locked every other client out.
func TestOnePeerCannotTakeEveryPlace(t *testing.T) {
	f := newFake(0)
	srv, path := serveWith(t, Config{Pool: f, MaxConnections: 16, peer: fakePeers}, (*Server).Serve)
	d := newFakeDialer(t, path)
	held := 0
	var hog []net.Conn
	for range 16 {
		c := d.dial(1000, 1000)
		hog = append(hog, c)
		if getsAnswer(t, c) {
			held++
		}
	}
	if held != 4 {
		t.Fatalf("one uid holds %d of 16 connections, want the default quarter, 4", held)
	}
	// Others get in, up to their own quarter each, and the total.
	for uid := uint32(2000); uid < 2003; uid++ {
		for i := range 5 {
			if got := getsAnswer(t, d.dial(uid, uid)); got != (i < 4) {
				t.Fatalf("uid %d connection %d: answered %v", uid, i, got)
			}
		}
	}
	if getsAnswer(t, d.dial(3000, 3000)) {
		t.Fatal("a connection over the total admitted")
	}
	// A place freed is a place for anyone.
	for _, c := range hog {
		c.Close()
	}
	within(t, "the hog's places freed", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.conns) == 12
	})
	if !getsAnswer(t, d.dial(3000, 3000)) {
		t.Fatal("no place after the hog left")
	}
}

// within waits, bounded, for cond.
func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// gateServer accepts on a Gate and says "1" on every connection it
// admits, then closes it when the client does, or when the test ends.
func gateServer(t *testing.T, cfg GateConfig) (*Gate, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "g.sock")
	l, err := ListenUnix(path, 0o600, -1)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.peer == nil {
		cfg.peer = fakePeers
	}
	g := NewGate(l, cfg)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := g.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			io.WriteString(c, "1\n")
			wg.Go(func() {
				io.Copy(io.Discard, c)
				c.Close()
			})
		}
	})
	t.Cleanup(func() {
		g.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return g, path
}

// admitted reports whether a gateServer said "1" on c.
func admitted(t *testing.T, c net.Conn) bool {
	t.Helper()
	line, err := bufio.NewReader(c).ReadString('\n')
	if line == "1\n" {
		return true
	}
	if err == nil {
		t.Fatalf("unexpected %q", line)
	}
	return false
}

func TestGateAllowLists(t *testing.T) {
	unknown := func(net.Conn) (Peer, error) { return Peer{}, errors.New("no credentials") }
	tcpOnly := func(net.Conn) (Peer, error) { return Peer{Known: true, UID: 1000, Addr: "127.0.0.1"}, nil }
	gone := func(net.Conn) (Peer, error) { return Peer{Addr: "127.0.0.1"}, errPeerGone }
	tests := []struct {
		name       string
		uids, gids []uint32
		peer       func(net.Conn) (Peer, error)
		uid, gid   uint32
		want       bool
	}{
		{"no lists: anyone", nil, nil, nil, 1000, 1000, true},
		{"no lists, unknown peer", nil, nil, unknown, 0, 0, true},
		{"uid listed", []uint32{1000}, nil, nil, 1000, 5, true},
		{"gid listed", []uint32{7}, []uint32{1000}, nil, 5, 1000, true},
		{"neither listed", []uint32{1}, []uint32{2}, nil, 1000, 1000, false},
		{"root not implied", []uint32{1000}, nil, nil, 0, 0, false},
		{"unknown peer refused", []uint32{1000}, nil, unknown, 0, 0, false},
		{"TCP uid listed", []uint32{1000}, nil, tcpOnly, 0, 0, true},
		{"TCP: no gid to check", nil, []uint32{0}, tcpOnly, 0, 0, false},
		{"closed TCP peer is not root", []uint32{0}, nil, gone, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs testutil.SyncBuffer
			_, path := gateServer(t, GateConfig{
				AllowUIDs: tt.uids, AllowGIDs: tt.gids, peer: tt.peer,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			if got := admitted(t, newFakeDialer(t, path).dial(tt.uid, tt.gid)); got != tt.want {
				t.Fatalf("admitted %v, want %v", got, tt.want)
			}
			if !tt.want && !strings.Contains(logs.String(), "connection refused: not allowed") {
				t.Fatalf("refusal not logged: %s", logs.String())
			}
		})
	}
}

func TestGateLimits(t *testing.T) {
	// Two gates sharing a budget of 5, each of 4 connections, 2 per peer.
	b := NewBudget(5)
	var logs testutil.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	g1, p1 := gateServer(t, GateConfig{MaxConnections: 4, MaxPerPeer: 2, Budget: b, Logger: log})
	g2, p2 := gateServer(t, GateConfig{MaxConnections: 4, MaxPerPeer: 2, Budget: b, Logger: log})
	d1, d2 := newFakeDialer(t, p1), newFakeDialer(t, p2)
	steps := []struct {
		d    *fakeDialer
		uid  uint32
		want bool
	}{
		{d1, 1, true}, {d1, 1, true}, {d1, 1, false}, // per peer
		{d1, 2, true}, {d1, 2, true}, {d1, 3, false}, // total
		{d2, 1, true}, {d2, 2, false}, // budget: 5 across both
	}
	var kept []net.Conn
	for i, s := range steps {
		c := s.d.dial(s.uid, s.uid)
		if got := admitted(t, c); got != s.want {
			t.Fatalf("step %d (uid %d): admitted %v, want %v", i, s.uid, got, s.want)
		}
		if s.want {
			kept = append(kept, c)
		}
	}
	for _, msg := range []string{"too many from one peer", "too many connections", "open-file limit"} {
		if !strings.Contains(logs.String(), msg) {
			t.Errorf("no %q in the log:\n%s", msg, logs.String())
		}
	}
	// Closing frees the place, once however often it is closed.
	kept[0].Close()
	within(t, "a place freed", func() bool { return g1.Open() == 3 })
	if !admitted(t, d2.dial(2, 2)) {
		t.Fatal("budget place not freed")
	}
	if admitted(t, d1.dial(9, 9)) {
		t.Fatal("budget over-freed")
	}
	if g1.Open() != 3 || g2.Open() != 2 {
		t.Fatalf("open %d and %d, want 3 and 2", g1.Open(), g2.Open())
	}
}

func TestGatedConnClosesOnce(t *testing.T) {
	b := NewBudget(10)
	g, path := gateServer(t, GateConfig{Budget: b})
	c := newFakeDialer(t, path).dial(1, 1)
	if !admitted(t, c) {
		t.Fatal("not admitted")
	}
	l, _ := net.Listen("unix", filepath.Join(t.TempDir(), "x"))
	defer l.Close()
	gc := g.admit(must(net.Dial("unix", l.Addr().String())))
	if gc == nil {
		t.Fatal("second not admitted")
	}
	for range 3 {
		gc.Close()
	}
	if g.Open() != 1 || b.Open() != 1 {
		t.Fatalf("open %d, budget %d after closing one of two three times", g.Open(), b.Open())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// tcpPair returns both ends of a loopback TCP connection on network
// ("tcp4" or "tcp6"); the client socket is created with file-system uid
// fsuid, which is the uid the kernel records as its owner.
func tcpPair(t *testing.T, network, addr string, fsuid int) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	defer l.Close()
	ta := l.Addr().(*net.TCPAddr)
	var family int
	var sa unix.Sockaddr
	if network == "tcp6" {
		family, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: ta.Port, Addr: [16]byte(ta.IP.To16())}
	} else {
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: ta.Port, Addr: [4]byte(ta.IP.To4())}
	}
	// setfsuid is per thread: only this socket is made as that user.
	runtime.LockOSThread()
	old, _ := unix.SetfsuidRetUid(fsuid)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	unix.Setfsuid(old)
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "client")
	client, err = net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// TestLoopbackPeer: the uid at the other end of a loopback TCP connection
// is the client's, over IPv4 and IPv6, and a client that is gone is
// nobody, not root.
func TestLoopbackPeer(t *testing.T) {
	other := os.Getuid()
	if other == 0 {
		other = 65534 // root can make a socket as another user
	}
	for _, tt := range []struct{ network, addr string }{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		t.Run(tt.network, func(t *testing.T) {
			for _, uid := range []int{os.Getuid(), other} {
				server, _ := tcpPair(t, tt.network, tt.addr, uid)
				p, err := PeerOf(server)
				if err != nil || !p.Known || p.UID != uint32(uid) || p.GIDKnown || (p.Addr != "127.0.0.1" && p.Addr != "::1") {
					t.Fatalf("peer %+v, %v; want uid %d", p, err, uid)
				}
			}
			server, client := tcpPair(t, tt.network, tt.addr, other)
			client.Close()
			if p, err := PeerOf(server); err == nil || p.Known {
				t.Fatalf("closed client: peer %+v, %v", p, err)
			}
		})
	}
}

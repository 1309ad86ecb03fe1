package server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authpool/authpool/framing"
)

// TestNativeOutOfOrder: native answers carry their ids and come as soon as
// they are ready, so a slow request does not hold back a fast one sent
// after it.
func TestNativeOutOfOrder(t *testing.T) {
	_, path := serve(t, newFake(0))
	c := dial(t, path)
	fmt.Fprint(c, "1 auth:slow:x:wols\n2 auth:ab:x:ba\n")
	got := readLines(t, bufio.NewReader(c), 2)
	if strings.Join(got, ",") != "2 1,1 1" {
		t.Fatalf("answers %q, want the fast one first: [2 1, 1 1]", got)
	}
}

func TestNativeAnswers(t *testing.T) {
	_, path := serve(t, newFake(0))
	tests := []struct {
		line string
		want string // the answer line, or its start for errors
	}{
		{"7 auth:ab:x:ba", "7 1"},
		{"8 auth:ab:x:no", "8 0"},
		{"9 isuser:ab:x", "9 0"},
		{"00012 auth:ab:x:ba", "00012 1"},
		{"10 auth:timeout:x:p", "10 error timeout"},
		{"11 auth:unavailable:x:p", "11 error unavailable"},
		{"12 auth:overload:x:p", "12 error overloaded"},
		{"13 auth:protocol:x:p", "13 error protocol"},
		{"14 auth:exited:x:p", "14 error exited"},
		{"15 auth:closed:x:p", "15 error closed"},
		{"16 auth:weird:x:p", "16 error internal"},
		{"17 auth:untrusted:x:p", "17 error untrusted"},
		{"17 auth:a:b:c:d\x00", "17 error badrequest"},
		{"18 frob:a:b", "18 error badrequest bad request: unknown operation"},
		{"19", "19 error badrequest bad request: no request after the id"},
		{"20 ", "20 error badrequest bad request: no request after the id"},
		{"2x auth:ab:x:ba", "- error badrequest"},
		{"123456789012345678901 auth:ab:x:ba", "- error badrequest"},
		{"21 removeuser3:ab:x:ba", "21 1"},
		{"22 auth:ab:x:" + strings.Repeat("p", 70000), "22 error badrequest"},
		{"auth:ab:x:ba", "1"}, // generic lines still work
	}
	c := dial(t, path)
	r := bufio.NewReader(c)
	for _, tt := range tests {
		fmt.Fprintf(c, "%s\n", tt.line)
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%.40q: %v", tt.line, err)
		}
		line = strings.TrimSuffix(line, "\n")
		if line != tt.want && !strings.HasPrefix(line, tt.want+" ") {
			t.Errorf("%.40q: answer %q, want %q", tt.line, line, tt.want)
		}
		if _, err := framing.ParseNativeAnswer([]byte(line)); err != nil && strings.Contains(tt.line, " ") {
			t.Errorf("answer %q does not parse: %v", line, err)
		}
	}
}

func TestEjabberdFraming(t *testing.T) {
	_, path := serveWith(t, Config{Pool: newFake(5 * time.Millisecond)}, (*Server).ServeEjabberd)
	c := dial(t, path)
	frame := func(s string) []byte {
		return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
	}
	var in []byte
	var want []byte
	for _, tt := range []struct {
		payload string
		yes     bool
	}{
		{"auth:ab:x:ba", true},
		{"auth:ab:x:nope", false},
		{"tryregister:ab:x:ba", true},
		{"auth:a:b:c\x00", false},
		{"", false},
		{"auth:fail:x:liaf", false},
		{"auth:\x01€:x:\xac\x82\xe2\x01", true}, // bytes, not characters
	} {
		in = append(in, frame(tt.payload)...)
		want = framing.Ejabberd.AppendAnswer(want, tt.yes)
	}
	// Split the batch at odd places: framing must not depend on reads.
	go func() {
		for len(in) > 0 {
			n := min(3, len(in))
			c.Write(in[:n])
			in = in[n:]
		}
	}()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("answers % x, want % x", got, want)
	}
}

func TestDisallowedPeerRefused(t *testing.T) {
	f := newFake(0)
	// This test runs as some uid; allow only another one.
	me := uint32(syscallGetuid())
	_, path := serveWith(t, Config{Pool: f, AllowUIDs: []uint32{me + 1}}, (*Server).Serve)
	c := dial(t, path)
	fmt.Fprint(c, "auth:ab:x:ba\n")
	// Closed unread, the connection may end in a reset rather than EOF.
	if b, err := io.ReadAll(c); len(b) != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("disallowed peer got %q, %v; want the connection closed", b, err)
	}
	if len(f.Seen()) != 0 {
		t.Fatalf("request from a disallowed peer reached the pool: %v", f.Seen())
	}

	_, path = serveWith(t, Config{Pool: newFake(0), AllowUIDs: []uint32{me}}, (*Server).Serve)
	c = dial(t, path)
	fmt.Fprint(c, "auth:ab:x:ba\n")
	if line, err := bufio.NewReader(c).ReadString('\n'); line != "1\n" {
		t.Fatalf("allowed peer got %q, %v", line, err)
	}
}

func TestPeerCred(t *testing.T) {
	_, path := serve(t, newFake(0))
	c := dial(t, path)
	cred, err := PeerCred(c)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Uid != uint32(syscallGetuid()) {
		t.Fatalf("peer uid %d", cred.Uid)
	}
	if _, err := PeerCred(&net.TCPConn{}); err == nil {
		t.Fatal("PeerCred on a TCP connection")
	}
}

func syscallGetuid() int { return os.Getuid() }

// TestNativeNeverWaitsForAnother: native requests sent one by one, each
// while the one before is in flight, run concurrently: a fast one is not
// held back by a slow one, however the client sends them. (A helper that
// hangs must cost a native client one request, not its connection.)
func TestNativeNeverWaitsForAnother(t *testing.T) {
	f := newFake(0)
	_, path := serve(t, f)
	c := dial(t, path)
	r := bufio.NewReader(c)
	for i := 1; i <= 5; i += 2 {
		fmt.Fprintf(c, "%d auth:slow:x:wols\n", i)
		within(t, "the slow request to reach the pool", func() bool { return len(f.Seen()) == i })
		fmt.Fprintf(c, "%d auth:ab:x:ba\n", i+1)
		got := readLines(t, r, 2)
		if want := fmt.Sprintf("%d 1,%d 1", i+1, i); strings.Join(got, ",") != want {
			t.Fatalf("answers %q, want %s: the fast request waited for the slow one", got, want)
		}
	}
}

// readLines reads n lines from r, without their line ends.
func readLines(t *testing.T, r *bufio.Reader, n int) []string {
	t.Helper()
	var got []string
	for range n {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.TrimSuffix(line, "\n"))
	}
	return got
}

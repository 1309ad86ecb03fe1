package bench

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/authpool/authpool/framing"
)

func sampleConfig(t *testing.T) BareConfig {
	t.Helper()
	p, err := filepath.Abs("../testscripts/sample.py")
	if err != nil {
		t.Fatal(err)
	}
	return BareConfig{Command: []string{p}, Processes: 2, Timeout: 10 * time.Second}
}

// askAll sends right and wrong passwords from 16 workers at once and
// checks every answer.
func askAll(t *testing.T, target Target) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 20 {
				pw, want := "wonderland", true
				if (w+i)%2 == 1 {
					pw, want = "nope", false
				}
				got, err := target.Do(context.Background(), w, framing.Request{Op: framing.OpAuth, User: "alice", Server: "example.com", Password: pw})
				if err != nil || got != want {
					t.Errorf("worker %d request %d: %v, %v; want %v", w, i, got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestDispatcherTarget(t *testing.T) {
	d, err := NewDispatcher(sampleConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	askAll(t, d)
	var served int64
	for _, h := range d.HelperPIDs() {
		served += h.Served
	}
	if served != 16*20 {
		t.Errorf("helpers served %d answers, want %d", served, 16*20)
	}
}

func TestRelay(t *testing.T) {
	r, err := NewRelay(sampleConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "relay.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, l) }()

	st, err := DialSocket(sock, 4, 16, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	askAll(t, st)
	cancel() // with the connections still open: Serve closes them
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	st.Close()
}

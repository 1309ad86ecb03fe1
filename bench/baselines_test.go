package bench

import (
	"context"
	"errors"
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
	for _, check := range []bool{false, true} {
		t.Run(map[bool]string{false: "minimal", true: "idle check"}[check], func(t *testing.T) {
			cfg := sampleConfig(t)
			cfg.IdleCheck = check
			d, err := NewDispatcher(cfg)
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
		})
	}
}

// With IdleCheck, a helper that writes while no request is outstanding is
// caught before the next request is sent, as the pool catches it.
func TestIdleCheckCatchesStrays(t *testing.T) {
	cfg := sampleConfig(t)
	p, err := filepath.Abs("../testscripts/stray.py")
	if err != nil {
		t.Fatal(err)
	}
	// Strays only while idle: a "1" every 5 ms on average, none with an answer.
	cfg.Command, cfg.Processes, cfg.IdleCheck = []string{p, "--prompted", "0", "--extra", "0", "--interval", "5"}, 1, true
	d, err := NewDispatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i := range 100 {
		time.Sleep(20 * time.Millisecond) // idle long enough for a stray, most times
		_, err := d.Do(context.Background(), 0, framing.Request{Op: framing.OpIsUser, User: "alice", Server: "example.com"})
		if errors.Is(err, errIdleOutput) {
			return
		}
		if err != nil {
			t.Fatalf("request %d: %v, want errIdleOutput or an answer", i, err)
		}
	}
	t.Fatal("100 requests after idle gaps of a helper writing every 5 ms, and no stray caught")
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

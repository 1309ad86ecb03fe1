package bench

import (
	"bufio"
	"context"
	"net"
	"sync"
	"time"

	"github.com/authpool/authpool/client"
	"github.com/authpool/authpool/framing"
)

// The pool and the daemon are each measured against the least code that
// does the same job, on the same helpers, in the same run:
//   - DispatcherTarget: callers share the helpers through a channel of idle
//     helpers (take one, write, read, give it back), the pool's job without
//     restarts, deadlines per request, queue or stats;
//   - Relay: a Unix socket server with one goroutine per connection that
//     hands each line to an idle helper and writes the answer back, the
//     daemon's job without parsing, access control or any of the above.
// Neither recovers from a helper that fails: a baseline does not.

// DispatcherTarget shares Processes helpers among any number of workers
// through a channel of idle helpers.
type DispatcherTarget struct {
	*BareTarget
	idle chan *bareHelper
}

// NewDispatcher starts the helpers.
func NewDispatcher(cfg BareConfig) (*DispatcherTarget, error) {
	bt, err := NewBare(cfg)
	if err != nil {
		return nil, err
	}
	t := &DispatcherTarget{BareTarget: bt, idle: make(chan *bareHelper, len(bt.helpers))}
	for _, h := range bt.helpers {
		t.idle <- h
	}
	return t, nil
}

// Do takes an idle helper, asks it, and gives it back.
func (t *DispatcherTarget) Do(ctx context.Context, _ int, req framing.Request) (bool, error) {
	var h *bareHelper
	select {
	case h = <-t.idle:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { t.idle <- h }()
	return t.BareTarget.ask(ctx, h, req)
}

// Relay serves helpers on a listener with as little as a relay can do:
// generic protocol only, each line passed through unparsed.
type Relay struct {
	bare *BareTarget
	idle chan *bareHelper
	wg   sync.WaitGroup
}

// NewRelay starts the helpers; Serve or Close ends them.
func NewRelay(cfg BareConfig) (*Relay, error) {
	bt, err := NewBare(cfg)
	if err != nil {
		return nil, err
	}
	r := &Relay{bare: bt, idle: make(chan *bareHelper, len(bt.helpers))}
	for _, h := range bt.helpers {
		r.idle <- h
	}
	return r, nil
}

// Close kills the helpers of a relay that will not serve.
func (r *Relay) Close() error { return r.bare.Close() }

// Serve accepts connections until ctx ends or l fails, then closes l, waits
// for its connections and kills the helpers.
func (r *Relay) Serve(ctx context.Context, l net.Listener) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	var conns sync.Map
	defer func() {
		conns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		r.wg.Wait()
		r.bare.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		conns.Store(c, nil)
		r.wg.Go(func() {
			defer conns.Delete(c)
			defer c.Close()
			r.serveConn(c)
		})
	}
}

func (r *Relay) serveConn(c net.Conn) {
	br, bw := bufio.NewReader(c), bufio.NewWriter(c)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		h := <-r.idle
		h.mu.Lock()
		yes, err := h.relay(line, time.Now().Add(r.bare.timeout), r.bare.idleCheck)
		h.mu.Unlock()
		r.idle <- h
		if err != nil {
			return
		}
		bw.Write(framing.Generic.AppendAnswer(nil, yes))
		if br.Buffered() == 0 && bw.Flush() != nil {
			return
		}
	}
}

// NativeTarget talks to a daemon in the native protocol through the Go
// client: Connections clients, worker w using client w mod Connections,
// each carrying many requests at once.
type NativeTarget struct {
	clients []*client.Client
	pid     int
}

// DialNative opens n clients of the daemon at path; timeout bounds each
// request (zero: 30s).
func DialNative(path string, n int, timeout time.Duration) (*NativeTarget, error) {
	t := &NativeTarget{}
	for range max(n, 1) {
		c, err := client.New(client.Config{Socket: path, Timeout: timeout})
		if err != nil {
			t.Close()
			return nil, err
		}
		t.clients = append(t.clients, c)
	}
	if nc, err := net.Dial("unix", path); err == nil {
		t.pid, _ = PeerPID(nc)
		nc.Close()
	}
	return t, nil
}

// Do asks through client worker mod Connections.
func (t *NativeTarget) Do(ctx context.Context, worker int, req framing.Request) (bool, error) {
	return t.clients[worker%len(t.clients)].Do(ctx, req)
}

// DaemonPID is the daemon's process id, from the socket's peer credentials.
func (t *NativeTarget) DaemonPID() int { return t.pid }

// Close closes the clients.
func (t *NativeTarget) Close() error {
	for _, c := range t.clients {
		c.Close()
	}
	return nil
}

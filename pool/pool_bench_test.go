package pool

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/ptyproc"
)

// BenchmarkDo measures round trips through the pool to fake helpers (this
// test binary re-executed, answering from a map), with many callers at
// once. Compare configurations with each other, not with absolute numbers:
// the helpers share the machine with the callers. The callers' context
// cannot end, except in the "cancelable" runs, whose context can, as a
// server's request contexts do.
//
// What a request allocates: nothing, but a copy of a password the helper's
// stderr redaction does not hold yet (ptyproc.Process.Redact; here the
// password is always the same), and, for a context that can end, the
// pool's watch when it starts after the pool was idle (watch.go).
func BenchmarkDo(b *testing.B) {
	for _, tr := range []ptyproc.Transport{ptyproc.PTY, ptyproc.Pipe} {
		for _, mode := range []Mode{Blocking, NonBlocking} {
			for _, n := range []int{1, 4} {
				b.Run(fmt.Sprintf("%s/%s/N=%d", tr, mode, n), func(b *testing.B) {
					benchDo(context.Background(), b, tr, mode, n)
				})
			}
			ctx, cancel := context.WithCancel(context.Background())
			b.Run(fmt.Sprintf("%s/%s/N=4/cancelable", tr, mode), func(b *testing.B) {
				benchDo(ctx, b, tr, mode, 4)
			})
			cancel()
		}
	}
}

func benchDo(ctx context.Context, b *testing.B, tr ptyproc.Transport, mode Mode, n int) {
	p, err := New(Config{
		Command:   []string{os.Args[0]},
		Env:       []string{fakeEnv + "=db", fakeProtoEnv + "=generic"},
		Transport: tr,
		Mode:      mode,
		Processes: n,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	req := framing.Request{Op: framing.OpAuth, User: "alice", Server: "example.com", Password: "wonderland"}
	for range 10 * n { // every helper up and answering
		if ok, err := p.Do(ctx, req); !ok || err != nil {
			b.Fatal("warmup:", ok, err)
		}
	}
	b.SetParallelism(n) // n callers per CPU
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, err := p.Do(ctx, req); !ok || err != nil {
				b.Error(ok, err)
				return
			}
		}
	})
}

// BenchmarkPrecheck is the cost of a request the pool answers by itself:
// validation and bookkeeping, no helper.
func BenchmarkPrecheck(b *testing.B) {
	p, err := New(Config{Command: []string{os.Args[0]}, Env: []string{fakeEnv + "=db"}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	req := framing.Request{Op: framing.OpAuth, User: "alice", Server: "example.com"} // empty password: always no
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := p.Do(context.Background(), req); ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

package penalty

import (
	"context"
	"net/netip"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/authpool/authpool/framing"
)

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

const million = 1 << 20

// Done when: one million distinct addresses do not grow the daemon by
// more than 64 MiB. A Guard keeps nothing per address outside its store
// once an attempt is over (BenchmarkMillionAddresses checks that through
// the Guard, too slowly for the race detector), so this drives the store
// as the Guard does: a million failures, each from a fresh address, make
// the address's key and its pair with the user, and the table fills to
// DefaultMaxKeys and stays there, the oldest keys forgotten first.
func TestMemoryMillionAddresses(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, MemoryConfig{})
	user := keyN(-1)
	before := heapInUse()
	for i := range million {
		m := markN(i)
		s.Fail(ctx, keyN(2*i), m)   // the address
		s.Fail(ctx, keyN(2*i+1), m) // the pair
		s.Fail(ctx, user, m)
	}
	growth := int64(heapInUse()) - int64(before)
	runtime.KeepAlive(s)
	t.Logf("a million addresses: the heap grew %.1f MiB for %d keys (%.0f bytes a key)",
		float64(growth)/(1<<20), s.Len(), float64(growth)/float64(s.Len()))
	if s.Len() != DefaultMaxKeys {
		t.Errorf("%d keys, want the table full at %d", s.Len(), DefaultMaxKeys)
	}
	if growth > 64<<20 {
		t.Errorf("the heap grew %d MiB, over 64 MiB", growth>>20)
	}
}

// refuser says no at once, acceptor yes.
type (
	refuser  struct{}
	acceptor struct{}
)

func (refuser) Do(context.Context, framing.Request) (bool, error)  { return false, nil }
func (acceptor) Do(context.Context, framing.Request) (bool, error) { return true, nil }

// BenchmarkMillionAddresses is TestMemoryMillionAddresses through a Guard,
// whatever b.N: a million failed logins, each from a fresh address for a
// user of its own (three fresh keys, the most one failure makes, and no
// attempt waits for another). It reports the growth of the live heap.
func BenchmarkMillionAddresses(b *testing.B) {
	for b.Loop() {
		g, err := New(Config{Next: refuser{}})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		before := heapInUse()
		for i := range million {
			req := auth("u"+strconv.Itoa(i), "wrong", "")
			req.Client = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			if _, err := g.Do(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
		growth := int64(heapInUse()) - int64(before)
		runtime.KeepAlive(g)
		b.ReportMetric(float64(growth)/(1<<20), "MiB")
		b.ReportMetric(float64(growth)/float64(g.Stats().Keys), "B/key")
	}
}

// BenchmarkGuard is the Guard's cost on a login nobody is guessing: a
// right password from a clean address, in parallel, against Next alone.
func BenchmarkGuard(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[on], func(b *testing.B) {
			g, err := New(Config{Next: acceptor{}, Off: !on})
			if err != nil {
				b.Fatal(err)
			}
			var n atomicCounter
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					i := n.next()
					req := auth("alice", "wonderland", "")
					req.Client = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
					if ok, err := g.Do(ctx, req); !ok || err != nil {
						b.Fatal(ok, err)
					}
				}
			})
		})
	}
}

type atomicCounter struct{ n atomic.Uint64 }

func (c *atomicCounter) next() uint64 { return c.n.Add(1) }

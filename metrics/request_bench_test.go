package metrics

import (
	"testing"
	"time"

	"github.com/authpool/authpool/framing"
)

// BenchmarkRequest is what the daemon pays in metrics for each request
// (pool.Observer.Request), from many goroutines at once.
func BenchmarkRequest(b *testing.B) {
	m := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Request(framing.OpAuth, "yes", 3*time.Microsecond, 20*time.Microsecond)
		}
	})
}

package cache

import (
	"context"
	"testing"
	"time"
)

// BenchmarkHit is the hot path: an auth answered from the MemoryStore.
func BenchmarkHit(b *testing.B) {
	c, err := New(Config{Next: newFake(), TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	req := auth("alice", "wonderland")
	c.Do(context.Background(), req)
	b.ReportAllocs()
	for b.Loop() {
		c.Do(context.Background(), req)
	}
}

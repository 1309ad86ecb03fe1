package server

import (
	"bufio"
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authpool/authpool/framing"
)

// instantPool answers at once, so the benchmarks measure the server and
// its socket, not helpers.
type instantPool struct{}

func (instantPool) Do(_ context.Context, req framing.Request) (bool, error) {
	return req.Password == "right", nil
}

func benchServer(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Config{Pool: instantPool{}})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	b.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			b.Errorf("Serve = %v", err)
		}
	})
	return path
}

const benchLine = "auth:alice:example.com:right\n"

// BenchmarkRoundTrip: one connection, one request at a time.
func BenchmarkRoundTrip(b *testing.B) {
	path := benchServer(b)
	c, err := net.Dial("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write([]byte(benchLine)); err != nil {
			b.Fatal(err)
		}
		if a, err := br.ReadString('\n'); err != nil || a != "1\n" {
			b.Fatal(a, err)
		}
	}
}

// BenchmarkPipelined: one connection, 64 requests a write.
func BenchmarkPipelined(b *testing.B) {
	const depth = 64
	path := benchServer(b)
	c, err := net.Dial("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	batch := []byte(strings.Repeat(benchLine, depth))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(batch); err != nil {
			b.Fatal(err)
		}
		for range depth {
			if a, err := br.ReadString('\n'); err != nil || a != "1\n" {
				b.Fatal(a, err)
			}
		}
	}
	b.ReportMetric(float64(b.N*depth)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkConnections: many connections, one request at a time on each.
func BenchmarkConnections(b *testing.B) {
	path := benchServer(b)
	b.SetParallelism(8) // 16 connections on 2 CPUs
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("unix", path)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for pb.Next() {
			if _, err := c.Write([]byte(benchLine)); err != nil {
				b.Error(err)
				return
			}
			if a, err := br.ReadString('\n'); err != nil || a != "1\n" {
				b.Error(a, err)
				return
			}
		}
	})
}

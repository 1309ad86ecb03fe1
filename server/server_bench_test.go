package server

import (
	"bufio"
	"bytes"
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

// The clients below allocate nothing per request, so allocs/op is the
// server's: the three strings of the parsed request (framing.ParseRequest:
// user, server, password), and, for a request that does not run in its
// connection's reader (pipelined, native), its goroutine.

// roundTrips asks one request at a time on c, b.N times in all, or until
// pb says stop.
func roundTrips(b *testing.B, c net.Conn, line, want []byte, next func() bool) {
	br := bufio.NewReader(c)
	for next() {
		if _, err := c.Write(line); err != nil {
			b.Error(err)
			return
		}
		if a, err := br.ReadSlice('\n'); err != nil || !bytes.Equal(a, want) {
			b.Error(string(a), err)
			return
		}
	}
}

func dialBench(b *testing.B, path string) net.Conn {
	b.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkRoundTrip: one connection, one request at a time (it runs in
// the connection's reader).
func BenchmarkRoundTrip(b *testing.B) {
	c := dialBench(b, benchServer(b))
	b.ReportAllocs()
	roundTrips(b, c, []byte(benchLine), []byte("1\n"), b.Loop)
}

// BenchmarkNativeRoundTrip: one connection, one native request at a time
// (each in a goroutine of its own).
func BenchmarkNativeRoundTrip(b *testing.B) {
	c := dialBench(b, benchServer(b))
	b.ReportAllocs()
	roundTrips(b, c, []byte("7 "+benchLine), []byte("7 1\n"), b.Loop)
}

// BenchmarkPipelined: one connection, 64 requests a write.
func BenchmarkPipelined(b *testing.B) {
	const depth = 64
	c := dialBench(b, benchServer(b))
	br := bufio.NewReader(c)
	batch := []byte(strings.Repeat(benchLine, depth))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(batch); err != nil {
			b.Fatal(err)
		}
		for range depth {
			if a, err := br.ReadSlice('\n'); err != nil || string(a) != "1\n" {
				b.Fatal(string(a), err)
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
		roundTrips(b, c, []byte(benchLine), []byte("1\n"), pb.Next)
	})
}

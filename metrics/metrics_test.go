package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/authpool/authpool/pool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scrape returns the metrics page.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(w.Body)
	return string(b)
}

// value finds a sample line by its name and labels, as Prometheus prints it.
func value(page, series string) string {
	for _, line := range strings.Split(page, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			return rest
		}
	}
	return ""
}

// TestMetricsMove: requests, timeouts and restarts show in the metrics as
// they happen, and no user name or password ever does.
func TestMetricsMove(t *testing.T) {
	m := New()
	// crash is asked again of the helper started to replace the crashed
	// one, whose caller waits Timeout for it to start and answer: long
	// enough for Python on a loaded machine.
	p, err := pool.New(pool.Config{
		Command:  []string{"../testscripts/misbehave.py"},
		Timeout:  2 * time.Second,
		Observer: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m.Watch(p.Stats)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	p.Auth(ctx, "alice", "example.com", "wonderland")
	p.Auth(ctx, "alice", "example.com", "Secret-Metrics-Pw")
	p.IsUser(ctx, "bob", "example.com")
	if _, err := p.Auth(ctx, "hang", "example.com", "x"); err == nil {
		t.Fatal("hang answered")
	}
	p.Auth(ctx, "crash", "example.com", "x")
	p.Auth(ctx, "al:ice", "example.com", "x")

	// Helper ends are reported by their slots, a moment after the request
	// that saw them.
	deadline := time.Now().Add(20 * time.Second)
	for value(scrape(t, m), `authpool_helper_restarts_total{reason="exit"}`) != "2" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	// The crashed helper's replacement may still be starting: the gauge
	// is read once it is up, not raced against its start.
	if err := p.WaitReady(ctx); err != nil {
		t.Fatalf("helpers not ready again: %v", err)
	}
	page := scrape(t, m)
	for series, want := range map[string]string{
		`authpool_requests_total{op="auth",result="yes"}`:        "1",
		`authpool_requests_total{op="auth",result="no"}`:         "1",
		`authpool_requests_total{op="isuser",result="yes"}`:      "1",
		`authpool_requests_total{op="auth",result="timeout"}`:    "1",
		`authpool_requests_total{op="auth",result="exited"}`:     "1",
		`authpool_requests_total{op="auth",result="badrequest"}`: "1",
		`authpool_timeouts_total`:                                "1",
		`authpool_helper_restarts_total{reason="timeout"}`:       "1",
		`authpool_helper_restarts_total{reason="exit"}`:          "2", // asked twice
		`authpool_request_duration_seconds_count{op="auth"}`:     "5",
		`authpool_helpers{state="ready"}`:                        "1",
		`authpool_requests_in_flight`:                            "0",
	} {
		if got := value(page, series); got != want {
			t.Errorf("%s = %q, want %s", series, got, want)
		}
	}
	for _, secret := range []string{"Secret-Metrics-Pw", "wonderland", "alice", "bob", "example.com"} {
		if strings.Contains(page, secret) {
			t.Errorf("%q in the metrics", secret)
		}
	}
}

package bench

import (
	"context"
	"errors"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/ptyproc"
)

// MeasureSpawn starts the helper n times, one after the other, and times
// each from the start to its answer to a first request (an isuser for a
// user nobody has): what a restart costs before the new helper serves.
func MeasureSpawn(ctx context.Context, cfg ptyproc.Config, proto framing.Protocol, n int, timeout time.Duration) (*SpawnReport, error) {
	if n < 1 {
		return nil, errors.New("no samples")
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	req := framing.Request{Op: framing.OpIsUser, User: "authpool-bench-spawn", Server: "bench.invalid"}
	var total, worst time.Duration
	for range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t := time.Now()
		p, err := ptyproc.Start(cfg)
		if err != nil {
			return nil, err
		}
		_, err = pool.NewExchanger(p, proto).Exchange(req, t.Add(timeout))
		d := time.Since(t)
		p.Close()
		if err != nil {
			return nil, err
		}
		total += d
		worst = max(worst, d)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return &SpawnReport{Samples: n, MeanMs: ms(total) / float64(n), MaxMs: ms(worst)}, nil
}

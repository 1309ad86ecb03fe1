package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authpool/authpool/client"
	authpoold "github.com/authpool/authpool/internal/daemon"
)

// status prints a running daemon's status report, from its socket (native
// protocol) or its HTTP listener.
func status(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", defaultSocket(), "the daemon's Unix socket")
	httpURL := fs.String("http", "", "ask the HTTP listener at this URL (http://127.0.0.1:PORT) instead of the socket")
	credsFile := fs.String("http-credentials-file", "", "with --http: read the HTTP API's USER:PASSWORD from this file (else $AUTHPOOL_HTTP_CREDENTIALS)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	timeout := fs.Duration("timeout", 10*time.Second, "longest wait for the report")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: authpool status [flags]

Print a running daemon's status: its helpers (pid, state, answers, age), the
queue, totals by result, and whether its helper command is trusted. Asks the
socket in the native protocol, or the HTTP listener with --http, with the
HTTP API's credentials from --http-credentials-file or
$AUTHPOOL_HTTP_CREDENTIALS. Exit status 0, or 2 when
the daemon cannot be asked.

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := checkNumbers(fs); err != nil {
		fmt.Fprintf(stderr, "authpool status: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *credsFile != "" && *httpURL == "" {
		fmt.Fprintf(stderr, "authpool status: %v\n", errNoCredentialsTarget)
		return 2
	}
	user, pass, err := httpClientCredentials(*credsFile)
	if err != nil {
		fmt.Fprintf(stderr, "authpool status: %v\n", err)
		return 2
	}
	raw, err := fetchStatus(ctx, *socket, *httpURL, user, pass)
	if err != nil {
		fmt.Fprintf(stderr, "authpool status: %v\n", err)
		return 2
	}
	if *asJSON {
		fmt.Fprintf(stdout, "%s\n", strings.TrimSpace(string(raw)))
		return 0
	}
	var r authpoold.Status
	if err := json.Unmarshal(raw, &r); err != nil {
		fmt.Fprintf(stderr, "authpool status: unreadable report: %v\n", err)
		return 2
	}
	printStatus(stdout, r)
	return 0
}

func fetchStatus(ctx context.Context, socket, httpURL, user, pass string) ([]byte, error) {
	if httpURL == "" {
		c, err := client.New(client.Config{Socket: socket})
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.Status(ctx)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(httpURL, "/")+"/status", nil)
	if err != nil {
		return nil, err
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

func printStatus(w io.Writer, r authpoold.Status) {
	up := time.Duration(r.UptimeSeconds * float64(time.Second)).Round(time.Second)
	fmt.Fprintf(w, "authpool pid %d, up %s, %s mode; %d in flight, %d queued, %d waiting\n\n",
		r.PID, up, r.Mode, r.InFlight, r.Queued, r.Waiting)
	if r.Untrusted != "" {
		fmt.Fprintf(w, "HELPER COMMAND UNTRUSTED: its helpers were caught out of step (%s); every request fails until a probe passes\n\n", r.Untrusted)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tSTATE\tPID\tUPTIME\tSERVED\tRESTARTS")
	for _, h := range r.Helpers {
		pid := "-"
		if h.PID != 0 {
			pid = fmt.Sprint(h.PID)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\n", h.Slot, h.State, pid,
			time.Duration(h.UptimeSeconds*float64(time.Second)).Round(time.Second), h.Served, h.Restarts)
	}
	tw.Flush()
	t := r.Totals
	fmt.Fprintf(w, "\nrequests %d (bad %d, overloaded %d); helpers started %d (failed %d), exited %d, timed out %d, protocol errors %d, recycled %d; caught out of step %d, distrusted %d times\n",
		t.Requests, t.BadRequests, t.Overloaded, t.Spawns, t.SpawnFailures, t.Exits, t.Timeouts, t.ProtocolErrors, t.Recycles, t.OutOfStep, t.Distrusted)
	if c := r.Cache; c != nil {
		fmt.Fprintf(w, "cache: %d hits, %d misses, %d entries, %d evicted, %d invalidated\n",
			c.Hits, c.Misses, c.Entries, c.Evictions, c.Invalidations)
	}
	if pn := r.Penalty; pn != nil {
		fmt.Fprintf(w, "guessing defence: %d checks delayed, %d held (%d never answered), %d gave up waiting, %d in line now; %d failures (%d repeated passwords); %d keys penalised now\n",
			pn.Delayed, pn.Held, pn.Withheld, pn.GaveUp, pn.InLine, pn.Failures, pn.Repeats, pn.Keys)
	}
	if sh := r.Shared; sh != nil {
		for _, st := range []struct {
			what, away string
			rs         *authpoold.RedisStatus
		}{
			{"penalties", "THIS DAEMON'S OWN while Redis is away", sh.Penalties},
			{"answer cache", "NOT IN USE while Redis is away: every lookup asks a helper", sh.Cache},
		} {
			if st.rs == nil {
				continue
			}
			where := "shared through Redis"
			if st.rs.Mode != "redis" {
				where = st.away
			}
			fmt.Fprintf(w, "%s: %s; Redis errors %d, fallbacks %d, recoveries %d\n",
				st.what, where, st.rs.Errors, st.rs.Fallbacks, st.rs.Recoveries)
		}
	}
}

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authpool/authpool/cache/rediscache"
	"github.com/authpool/authpool/penalty/redisstore"
	"github.com/authpool/authpool/penalty/redisstore/redistest"
)

// Several daemons sharing one Redis (issue 16), as real serve processes
// against a real redis-server that the test starts. Time is scaled as in
// penalty_e2e_test.go (--penalty-base 200ms, --penalty-max 1.5s). The
// tests claim no upper bound on a wait but the one the issue states (an
// answer within --timeout while Redis is away): a penalty met is a lower
// bound, which load cannot break, and what is shared is read from Redis.

const (
	clusterPrefix = "authpool:penalty:"
	// clusterTimeout is the daemons' --timeout: every answer comes within
	// it, Redis up, killed or paused.
	clusterTimeout = 3 * time.Second
)

// clusterSecret writes a cluster secret file, as the README's one-liner
// does, and returns its path and content.
func clusterSecret(t *testing.T) (string, []byte) {
	t.Helper()
	secret := []byte(strings.Repeat("5eC7", 16))
	path := filepath.Join(t.TempDir(), "cluster.secret")
	if err := os.WriteFile(path, append(secret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, secret
}

// node is one daemon of a cluster, with its metrics.
type node struct {
	d       *daemon
	metrics func() map[string]float64
}

// startCluster starts n daemons sharing srv's Redis, with the scaled
// penalties and args, and waits until each uses Redis.
func startCluster(t *testing.T, srv *redistest.Server, n int, args ...string) []node {
	t.Helper()
	return startClusterOf(t, srv, n, []string{scripts(t, "misbehave.py")}, args...)
}

// startClusterOf is startCluster with another helper command. Daemon i
// names its Redis connections node<i> (CLIENT LIST), so that a test can
// kill them.
func startClusterOf(t *testing.T, srv *redistest.Server, n int, helper []string, args ...string) []node {
	t.Helper()
	secretFile, _ := clusterSecret(t)
	sep := "?"
	if strings.Contains(srv.URL(), "?") {
		sep = "&"
	}
	var nodes []node
	for i := range n {
		url := fmt.Sprintf("%s%sclient_name=node%d", srv.URL(), sep, i)
		full := append([]string{"--redis", url, "--cluster-secret-file", secretFile, "--timeout", clusterTimeout.String()}, args...)
		d, m := penaltyDaemonOf(t, helper, full...)
		nodes = append(nodes, node{d, m})
	}
	waitRedisInUse(t, nodes, 1)
	return nodes
}

const (
	redisInUse = `authpool_redis_in_use{store="penalty"}`
	cacheInUse = `authpool_redis_in_use{store="cache"}`
)

// waitRedisInUse waits, bounded, until every node's penalty store is in
// Redis (1) or local (0).
func waitRedisInUse(t *testing.T, nodes []node, want float64) {
	t.Helper()
	for i, n := range nodes {
		within(t, fmt.Sprintf("daemon %d's penalties in Redis = %v", i, want), func() bool { return n.metrics()[redisInUse] == want })
	}
}

// ask sends one native request to the node and returns whether it was
// answered yes, and how long it took; any other answer fails the test.
func (n node) ask(t *testing.T, line string) (bool, time.Duration) {
	t.Helper()
	c, r := dialBounded(t, n.d.socket, 30*time.Second)
	defer c.Close()
	start := time.Now()
	a, err := nativeAsk(c, r, 1, line)
	took := time.Since(start)
	switch {
	case err != nil:
		t.Fatalf("%.50q: %v", line, err)
	case a != "1 1" && a != "1 0":
		t.Fatalf("%.50q: answered %q", line, a)
	}
	return a == "1 1", took
}

// wantKeys checks that Redis holds the three keys of one guesser (its
// address, its pair with the user, the user), each of n failures.
func wantKeys(t *testing.T, srv *redistest.Server, n int, when string) {
	t.Helper()
	if got, ok := srv.Uniform(clusterPrefix, "f", 3, n); !ok {
		t.Errorf("%s: Redis holds %v, want three keys of %d failures", when, got, n)
	}
}

func sum(nodes []node, metric string) float64 {
	var s float64
	for _, n := range nodes {
		s += n.metrics()[metric]
	}
	return s
}

// Done when: three daemons, one Redis. Distinct wrong passwords from one
// address spread over the three meet one rising delay, not three fresh
// ones; the same wrong password repeated does not raise it; the window
// forgets.
func TestClusterOneRisingDelay(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Monitor: true})
	// A patient --redis-timeout: a call slowed by a loaded machine must
	// not send a daemon to its own penalties mid-test.
	nodes := startCluster(t, srv, 3, "--penalty-window", "2s", "--redis-timeout", "5s")
	const from = "from=192.0.2.10 auth:alice:example.com:"

	// Guess i through daemon i%3 meets the penalty of every guess before
	// it, whichever daemon saw it: base << (i-1), less the moment between
	// two guesses. Daemons each with their own penalties would have let
	// the second and third through at once, and the fourth after none
	// (the first daemon's one failure is 600 ms old by then).
	for i := range 4 {
		ok, took := nodes[i%3].ask(t, fmt.Sprintf("%s%s-spread-%d", from, secretMark, i))
		if ok {
			t.Fatalf("guess %d answered yes", i)
		}
		if want := scaledBase << max(i-1, 0) / 2; i > 0 && took < want {
			t.Errorf("guess %d through daemon %d waited %v; the shared penalty is %v", i, i%3, took, 2*want)
		}
		wantKeys(t, srv, i+1, fmt.Sprintf("after guess %d", i))
	}

	// The same wrong password again, through each daemon: its mark is in
	// Redis, so no daemon raises the count.
	for i := range nodes {
		if ok, _ := nodes[(i+1)%3].ask(t, from+secretMark+"-spread-3"); ok {
			t.Fatal("a repeated guess answered yes")
		}
	}
	wantKeys(t, srv, 4, "after the last guess repeated through each daemon")
	if n := sum(nodes, "authpool_penalty_repeats_total"); n != 3 {
		t.Errorf("%v repeats counted over the daemons, want 3", n)
	}

	// The window forgets: Redis expires each key a window after its last
	// failure, and the next guess, through any daemon, starts afresh.
	within(t, "Redis to forget the guesser", func() bool { return len(srv.IntFields(clusterPrefix, "f")) == 0 })
	delayed := nodes[1].metrics()["authpool_penalty_delayed_total"]
	if ok, _ := nodes[1].ask(t, from+secretMark+"-after"); ok {
		t.Fatal("a guess after the window answered yes")
	}
	wantKeys(t, srv, 1, "a guess a window later")
	if d := nodes[1].metrics()["authpool_penalty_delayed_total"]; d != delayed {
		t.Errorf("the first guess after the window was delayed (%v delayed, was %v)", d, delayed)
	}
	for i, n := range nodes {
		m := n.metrics()
		if m[redisInUse] != 1 || m[`authpool_redis_errors_total{store="penalty"}`] != 0 {
			t.Errorf("daemon %d: Redis in use %v, errors %v; want every call answered by Redis", i, m[redisInUse], m[`authpool_redis_errors_total{store="penalty"}`])
		}
	}
	checkRedisHoldsNothing(t, srv)
}

// Done when: Redis killed, then paused (CLIENT PAUSE), then back. Every
// daemon keeps answering right and wrong passwords correctly within its
// --timeout; local penalties apply meanwhile; shared ones resume.
func TestClusterRedisOutage(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Monitor: true})
	nodes := startCluster(t, srv, 3, "--redis-timeout", "500ms")
	answers := 0
	// round asks every daemon alice's right password and bob's wrong one,
	// each from an address of its own, and checks each answer and that it
	// came within --timeout.
	round := func(when string) {
		t.Helper()
		for i, n := range nodes {
			answers++
			for _, q := range []struct {
				line string
				want bool
			}{
				{fmt.Sprintf("from=198.51.100.%d auth:alice:example.com:wonderland", answers), true},
				{fmt.Sprintf("from=203.0.113.%d auth:bob:example.com:%s-%s-%d", answers, secretMark, strings.Fields(when)[0], i), false},
			} {
				ok, took := n.ask(t, q.line)
				if ok != q.want || took > clusterTimeout {
					t.Errorf("%s, daemon %d: %.45q answered %v after %v; want %v within %v", when, i, q.line, ok, took, q.want, clusterTimeout)
				}
			}
		}
	}
	round("up")

	srv.Kill()
	round("killed")
	waitRedisInUse(t, nodes, 0)
	// Local penalties: daemon 0 saw this address fail once, while Redis
	// was away, and makes its second guess wait.
	const local = "from=192.0.2.20 auth:alice:example.com:" + secretMark
	nodes[0].ask(t, local+"-local-0")
	if _, took := nodes[0].ask(t, local+"-local-1"); took < scaledBase/2 {
		t.Errorf("with Redis killed, a second guess from one address waited %v; want the local penalty (%v)", took, scaledBase)
	}

	srv.Restart()
	waitRedisInUse(t, nodes, 1)
	fallbacks := nodes[0].metrics()[`authpool_redis_fallbacks_total{store="penalty"}`]
	srv.Pause(2 * time.Second)
	round("paused")
	if f := nodes[0].metrics()[`authpool_redis_fallbacks_total{store="penalty"}`]; f <= fallbacks {
		t.Errorf("Redis paused, daemon 0 did not fall back (%v fallbacks, %v before)", f, fallbacks)
	}
	waitRedisInUse(t, nodes, 1)
	round("back")

	// Shared penalties resume: a guess through daemon 0, the next through
	// daemon 1 meets its penalty, which daemon 1 never saw itself.
	const shared = "from=192.0.2.30 auth:alice:example.com:" + secretMark
	nodes[0].ask(t, shared+"-shared-0")
	if _, took := nodes[1].ask(t, shared+"-shared-1"); took < scaledBase/2 {
		t.Errorf("Redis back, a guess through another daemon waited %v; want the shared penalty (%v)", took, scaledBase)
	}
	if fs := srv.IntFields(clusterPrefix, "f"); !hasCount(fs, 2) {
		t.Errorf("Redis back, it holds %v; want the shared guesser's keys at 2 failures", fs)
	}
	for i, n := range nodes {
		m := n.metrics()
		if m[`authpool_redis_fallbacks_total{store="penalty"}`] < 1 || m[`authpool_redis_recoveries_total{store="penalty"}`] < 2 {
			t.Errorf("daemon %d: fallbacks %v, recoveries %v; want the outage counted", i,
				m[`authpool_redis_fallbacks_total{store="penalty"}`], m[`authpool_redis_recoveries_total{store="penalty"}`])
		}
		if m["authpool_penalty_store_errors_total"] != 0 {
			t.Errorf("daemon %d: the Guard saw %v store errors; the store must answer every call itself", i, m["authpool_penalty_store_errors_total"])
		}
	}
	checkRedisHoldsNothing(t, srv)
}

func hasCount(fs map[string]int, n int) bool {
	for _, f := range fs {
		if f == n {
			return true
		}
	}
	return false
}

// TestClusterRedisUserAndStatus: daemons log in to Redis as a user that
// can run only redisstore.ACLCommands on the penalty keys, with the URL's
// password in the config file; a daemon with a wrong password starts on
// its own penalties; no log line shows the password, and `authpool
// status` says where the penalties are kept.
func TestClusterRedisUserAndStatus(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{TCP: true})
	acl := append([]string{"ACL", "SETUSER", "authpool", "on", ">" + redisPassword, "~" + clusterPrefix + "*", "~" + rediscache.DefaultPrefix + "*"},
		strings.Fields(redisstore.ACLCommands+" "+rediscache.ACLCommands)...)
	if err := srv.Do(acl...).Error(); err != nil {
		t.Fatal(err)
	}
	secretFile, _ := clusterSecret(t)
	addr := strings.TrimPrefix(srv.URL(), "redis://")
	for _, tt := range []struct {
		name, password, status string
		inUse                  float64
	}{
		{"right password", redisPassword, "penalties: shared through Redis;.*\nanswer cache: shared through Redis;", 1},
		{"wrong password", redisPassword + "-wrong", "penalties: THIS DAEMON'S OWN.*\nanswer cache: NOT IN USE", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conf := filepath.Join(t.TempDir(), "authpool.toml")
			body := fmt.Sprintf("redis = %q\ncluster-secret-file = %q\n", "redis://authpool:"+tt.password+"@"+addr, secretFile)
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			d, metrics := penaltyDaemon(t, "--config", conf, "--cache-ttl", "1m")
			within(t, "the daemon's penalty store to settle", func() bool {
				m := metrics()
				return m[redisInUse] == tt.inUse && m[cacheInUse] == tt.inUse &&
					(tt.inUse == 1 || m[`authpool_redis_probe_errors_total{store="penalty"}`] > 0 && m[`authpool_redis_probe_errors_total{store="cache"}`] > 0)
			})
			if ok, _ := (node{d, metrics}).ask(t, "from=192.0.2.40 auth:alice:example.com:"+secretMark+"-acl"); ok {
				t.Error("a wrong password answered yes")
			}
			var out, errOut bytes.Buffer
			if code := run(t.Context(), []string{"status", "--socket", d.socket}, strings.NewReader(""), &out, &errOut); code != 0 {
				t.Fatalf("status: exit %d: %s", code, errOut.String())
			}
			if !regexp.MustCompile(tt.status).MatchString(out.String()) {
				t.Errorf("status lacks %q:\n%s", tt.status, out.String())
			}
			d.stop()
			logs := d.logs.String()
			if !strings.Contains(logs, "redis://authpool:xxxxx@"+addr) {
				t.Errorf("the log does not name the Redis, redacted:\n%s", logs)
			}
			if strings.Contains(logs, redisPassword) {
				t.Errorf("the log shows the Redis password:\n%s", logs)
			}
		})
	}
	if fs := srv.IntFields(clusterPrefix, "f"); !hasCount(fs, 1) {
		t.Errorf("the daemon logged in as the ACL user wrote no penalty: Redis holds %v", fs)
	}
}

// checkRedisHoldsNothing scans everything Redis holds and was told (each
// key's name, value and DUMP, the append-only file, every command MONITOR
// saw) for what the tests' requests held: passwords (secretMark is in
// every wrong one), user names, the server, the addresses, and the
// unkeyed hashes anyone could compute from a guessed password.
func checkRedisHoldsNothing(t *testing.T, srv *redistest.Server) {
	t.Helper()
	plain := []string{secretMark, "wonderland", "alice", "bob", "example.com", "192.0.2.", "198.51.100.", "203.0.113."}
	var hashed []string
	for _, pw := range []string{"wonderland", secretMark + "-spread-0", secretMark + "-spread-3", secretMark + "-local-0", secretMark + "-shared-1", secretMark + "-after"} {
		hashed = append(hashed, pw, "alice"+pw, "alice:example.com:"+pw, "auth:alice:example.com:"+pw, "alice@example.com:"+pw)
	}
	hashed = append(hashed, "alice", "bob", "alice@example.com")
	for _, f := range srv.Holds(plain, hashed) {
		t.Errorf("Redis holds %s", f)
	}
}

// Done when: setpass on one daemon, and the old password is refused on the
// others at their next request, with positive caching on; also after the
// others' Redis connections were killed (CLIENT KILL). The helpers of all
// three daemons read one users file, as helpers over one user database
// do: what a daemon's cache holds is the only thing that could let an old
// password in.
func TestClusterSetpassForgets(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Monitor: true})
	users := filepath.Join(t.TempDir(), "users.txt")
	pw := func(n int) string { return fmt.Sprintf("%s-pw-%d", secretMark, n) }
	if err := os.WriteFile(users, []byte("alice@example.com:"+pw(0)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := startClusterOf(t, srv, 3, []string{scripts(t, "sample.py"), users}, "--cache-ttl", "1m", "--redis-timeout", "5s")
	for i, n := range nodes {
		within(t, fmt.Sprintf("daemon %d's cache in Redis", i), func() bool { return n.metrics()[cacheInUse] == 1 })
	}
	auth := func(n int) string { return "from=198.51.100.7 auth:alice:example.com:" + pw(n) }
	// want asks daemon i alice's password n and checks the answer.
	want := func(i, n int, yes bool, when string) {
		t.Helper()
		if ok, _ := nodes[i].ask(t, auth(n)); ok != yes {
			t.Errorf("%s: daemon %d answered %v to password %d, want %v", when, i, ok, n, yes)
		}
	}
	setpass := func(n int) {
		t.Helper()
		c, r := dialBounded(t, nodes[0].d.socket, 30*time.Second)
		if a, err := nativeAsk(c, r, 1, "setpass:alice:example.com:"+pw(n)); a != "1 1" || err != nil {
			t.Fatalf("setpass through daemon 0: %q, %v", a, err)
		}
		c.Close()
	}
	hits := func() float64 { return sum(nodes, "authpool_cache_hits_total") }

	for round := range 2 {
		for i := range nodes {
			want(i, round, true, "before the change")
			want(i, round, true, "before the change, asked again")
		}
		switch h := hits(); {
		case h < 3:
			t.Fatalf("%v cache hits over 6 logins of one password: the answer is not cached, so the test proves nothing", h)
		case h < 5:
			t.Errorf("%v cache hits over 6 logins of one password through 3 daemons: the cache is not shared", h)
		}
		if round == 1 {
			// The others' connections to Redis die: their next lookup
			// meets a broken connection, or a new one.
			for _, name := range []string{"node1", "node2"} {
				killClient(t, srv, name)
			}
		}
		setpass(round + 1)
		for i := 1; i < 3; i++ {
			want(i, round, false, fmt.Sprintf("round %d, after setpass through daemon 0", round))
			want(i, round+1, true, fmt.Sprintf("round %d, the new password", round))
		}
		want(0, round+1, true, fmt.Sprintf("round %d, the new password", round))
		// Forget the hits so far: the next round counts its own.
		for i := range nodes {
			within(t, fmt.Sprintf("daemon %d's cache back in Redis", i), func() bool { return nodes[i].metrics()[cacheInUse] == 1 })
		}
		before := hits()
		hits = func() float64 { return sum(nodes, "authpool_cache_hits_total") - before }
	}
	for _, f := range srv.Holds([]string{secretMark, "alice", "example.com"},
		[]string{pw(0), pw(1), pw(2), "alice@example.com", "alice:example.com:" + pw(1), "auth:alice:example.com:" + pw(1), "alice@example.com:" + pw(1)}) {
		t.Errorf("Redis holds %s", f)
	}
}

// clientID finds a connection's id in its line of CLIENT LIST (the first
// line may come with RESP3's "txt:" in front).
var clientID = regexp.MustCompile(`(?:^|[\s:])id=(\d+) `)

// killClient kills every connection Redis has from clients named name.
func killClient(t *testing.T, srv *redistest.Server, name string) {
	t.Helper()
	list, err := srv.Do("CLIENT", "LIST").ToString()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") {
			continue
		}
		m := clientID.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("no client id in %q", line)
		}
		if err := srv.Do("CLIENT", "KILL", "ID", m[1]).Error(); err != nil {
			t.Fatal(err)
		}
		killed++
	}
	if killed == 0 {
		t.Fatalf("no Redis connection named %s to kill:\n%s", name, list)
	}
}

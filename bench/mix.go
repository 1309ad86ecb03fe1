package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/authpool/authpool/framing"
)

// Mix is the share of each kind of request in a generated workload, as
// weights:
//
//	valid    auth of a known user with the right password: yes
//	invalid  auth of a known user with a wrong password: no
//	unknown  auth of a user nobody has: no
//	isuser   isuser of a known user: yes
//	nouser   isuser of a user nobody has: no
type Mix struct {
	Valid, Invalid, Unknown, IsUser, NoUser int
}

var mixKinds = []string{"valid", "invalid", "unknown", "isuser", "nouser"}

// ParseMix reads "valid=60,invalid=30,unknown=10" (any of valid, invalid,
// unknown, isuser and nouser; missing ones are zero).
func ParseMix(spec string) (Mix, error) {
	var m Mix
	w := []*int{&m.Valid, &m.Invalid, &m.Unknown, &m.IsUser, &m.NoUser}
	seen := map[string]bool{}
	for _, part := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(v)
		i := slices.Index(mixKinds, k)
		switch {
		case !ok || i < 0:
			return Mix{}, fmt.Errorf("mix %q: want KIND=WEIGHT,... with KIND one of %s", spec, strings.Join(mixKinds, ", "))
		case err != nil || n < 0 || n > 1e6:
			return Mix{}, fmt.Errorf("mix %q: %s: want a weight from 0 to 1000000", spec, k)
		case seen[k]:
			return Mix{}, fmt.Errorf("mix %q: %s given twice", spec, k)
		}
		seen[k] = true
		*w[i] = n
	}
	if m.total() == 0 {
		return Mix{}, fmt.Errorf("mix %q: every weight is zero", spec)
	}
	return m, nil
}

func (m Mix) total() int { return m.Valid + m.Invalid + m.Unknown + m.IsUser + m.NoUser }

// NeedsKnownUsers reports whether the mix asks about users the helper
// must know.
func (m Mix) NeedsKnownUsers() bool { return m.Valid+m.Invalid+m.IsUser > 0 }

// String writes the mix in the form ParseMix reads, naming only the
// kinds with a weight: "valid=60,invalid=30,unknown=10".
func (m Mix) String() string {
	var parts []string
	for i, v := range []int{m.Valid, m.Invalid, m.Unknown, m.IsUser, m.NoUser} {
		if v > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", mixKinds[i], v))
		}
	}
	return strings.Join(parts, ",")
}

// User is a known user and its password.
type User struct {
	Name, Server, Password string
}

// GenerateUsers makes n users with random passwords: bench-000000 to
// bench-(n-1) on bench.example.
func GenerateUsers(n int, seed uint64) []User {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	users := make([]User, n)
	for i := range users {
		users[i] = User{fmt.Sprintf("bench-%06d", i), "bench.example", randomPassword(rng)}
	}
	return users
}

// WriteUsers writes users in the users-file format of the sample
// helpers: "user@server:password" lines.
func WriteUsers(w io.Writer, users []User) error {
	bw := bufio.NewWriter(w)
	for _, u := range users {
		fmt.Fprintf(bw, "%s@%s:%s\n", u.Name, u.Server, u.Password)
	}
	return bw.Flush()
}

// ReadUsers reads a users file ("user@server:password" lines, split at
// the first ':' and the last '@' before it; '#' comments and lines with no
// ':' skipped, as the sample helpers do). Errors never show a password.
func ReadUsers(r io.Reader, name string) ([]User, error) {
	var users []User
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), framing.MaxPayload+64)
	for ln := 1; sc.Scan(); ln++ {
		line := bytes.TrimSuffix(sc.Bytes(), []byte{'\r'})
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		key, pw, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		at := bytes.LastIndexByte(key, '@')
		if at <= 0 || at == len(key)-1 {
			return nil, fmt.Errorf("%s:%d: want user@server:password", name, ln)
		}
		u := User{string(key[:at]), string(key[at+1:]), string(pw)}
		if err := (framing.Request{Op: framing.OpAuth, User: u.Name, Server: u.Server, Password: u.Password}).Validate(); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, ln, err)
		}
		users = append(users, u)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%s: no users", name)
	}
	return users, nil
}

// MixConfig describes a generated workload.
type MixConfig struct {
	Mix Mix
	// Known are the users the helper knows; needed when the mix has
	// valid, invalid or isuser requests.
	Known []User
	// Absent is how many users nobody has to ask about (zero: as many as
	// Known, at least 1000).
	Absent int
	// Repeat is the fraction of requests that ask again exactly what one
	// of the 16 requests before asked (a cache hit, with a cache); the
	// others take the next user in turn, so with more users than a
	// cache holds they miss.
	Repeat float64
	// Length is the number of requests before the workload starts over
	// (zero: ten times the users, from 1000 to 1000000).
	Length int
	Seed   uint64
	Source string // for the report
}

// ErrNoKnownUsers is GenerateMix's error when the mix needs known users
// and none were given.
var ErrNoKnownUsers = errors.New("the mix asks about known users, and none were given")

// GenerateMix makes a workload of cfg.Mix over cfg's users.
func GenerateMix(cfg MixConfig) (*Workload, error) {
	m := cfg.Mix
	switch {
	case m.total() == 0:
		return nil, errors.New("empty mix")
	case m.NeedsKnownUsers() && len(cfg.Known) == 0:
		return nil, ErrNoKnownUsers
	case cfg.Repeat < 0 || cfg.Repeat > 1:
		return nil, errors.New("repeat: want a fraction from 0 to 1")
	}
	absent := cfg.Absent
	if absent <= 0 {
		absent = max(len(cfg.Known), 1000)
	}
	n := cfg.Length
	if n <= 0 {
		n = min(max(10*max(len(cfg.Known), absent), 1000), 1000000)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	w := &Workload{Source: cfg.Source}
	if w.Source == "" {
		w.Source = fmt.Sprintf("mix %s over %d known and %d absent users, %.0f%% repeated", m, len(cfg.Known), absent, 100*cfg.Repeat)
	}
	weights := []int{m.Valid, m.Invalid, m.Unknown, m.IsUser, m.NoUser}
	var nextKnown, nextAbsent int
	for len(w.Items) < n {
		if k := len(w.Items); k > 0 && cfg.Repeat > 0 && rng.Float64() < cfg.Repeat {
			w.Items = append(w.Items, w.Items[k-1-rng.IntN(min(k, 16))])
			continue
		}
		pick := rng.IntN(m.total())
		kind := 0
		for ; pick >= weights[kind]; kind++ {
			pick -= weights[kind]
		}
		var it Item
		switch kind {
		case 0, 1, 3:
			u := cfg.Known[nextKnown%len(cfg.Known)]
			nextKnown++
			switch kind {
			case 0:
				it = Item{framing.Request{Op: framing.OpAuth, User: u.Name, Server: u.Server, Password: u.Password}, ExpectYes}
			case 1:
				it = Item{framing.Request{Op: framing.OpAuth, User: u.Name, Server: u.Server, Password: wrongPassword(u.Password, rng)}, ExpectNo}
			default:
				it = Item{framing.Request{Op: framing.OpIsUser, User: u.Name, Server: u.Server}, ExpectYes}
			}
		default:
			u := fmt.Sprintf("bench-absent-%06d", nextAbsent%absent)
			nextAbsent++
			if kind == 2 {
				it = Item{framing.Request{Op: framing.OpAuth, User: u, Server: "bench.invalid", Password: randomPassword(rng)}, ExpectNo}
			} else {
				it = Item{framing.Request{Op: framing.OpIsUser, User: u, Server: "bench.invalid"}, ExpectNo}
			}
		}
		w.Items = append(w.Items, it)
	}
	return w, nil
}

// wrongPassword is a password that is not pw.
func wrongPassword(pw string, rng *rand.Rand) string {
	for {
		if p := randomPassword(rng); p != pw {
			return p
		}
	}
}

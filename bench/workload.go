package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"

	"github.com/authpool/authpool/framing"
)

// Expect is the answer a request must get.
type Expect int8

const (
	// Unchecked: any answer is accepted.
	Unchecked Expect = iota
	// ExpectNo: the answer must be no (0, false).
	ExpectNo
	// ExpectYes: the answer must be yes (1, true).
	ExpectYes
)

// Item is one request of a workload and the answer it must get.
type Item struct {
	Req    framing.Request
	Expect Expect
}

// Workload is the list of requests a run cycles through, in order.
type Workload struct {
	Items []Item
	// Source says where the items came from, for the report.
	Source string
}

// Checked reports how many items have an expected answer.
func (w *Workload) Checked() int {
	n := 0
	for _, it := range w.Items {
		if it.Expect != Unchecked {
			n++
		}
	}
	return n
}

// HasWrites reports whether the workload changes state in the helpers
// (setpass and the ejabberd writes): such a workload gives answers that
// depend on order, and it should not be run concurrently against a store
// that matters.
func (w *Workload) HasWrites() bool {
	for _, it := range w.Items {
		if !it.Req.Op.Idempotent() {
			return true
		}
	}
	return false
}

// ParseCredentials reads a credentials file: one item a line,
//
//	op:user:server[:password] EXPECTED
//
// where EXPECTED, after the last space or tab, is 1 or 0. The password is
// everything between the third ':' and that last blank, so it may hold
// colons and spaces. Blank lines and lines starting with '#' are skipped;
// a line may end in CRLF. Errors name the line but never show a password.
func ParseCredentials(r io.Reader, name string) (*Workload, error) {
	w := &Workload{Source: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), framing.MaxPayload+64)
	for ln := 1; sc.Scan(); ln++ {
		line := bytes.TrimSuffix(sc.Bytes(), []byte{'\r'})
		if len(bytes.TrimSpace(line)) == 0 || line[0] == '#' {
			continue
		}
		i := bytes.LastIndexAny(line, " \t")
		if i < 0 {
			return nil, fmt.Errorf("%s:%d: want \"op:user:server[:password] EXPECTED\" with EXPECTED 1 or 0", name, ln)
		}
		var exp Expect
		switch string(line[i+1:]) {
		case "1":
			exp = ExpectYes
		case "0":
			exp = ExpectNo
		default:
			return nil, fmt.Errorf("%s:%d: the expected answer after the last blank must be 1 or 0", name, ln)
		}
		req, err := framing.ParseRequest(line[:i])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, ln, err)
		}
		w.Items = append(w.Items, Item{Req: req, Expect: exp})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(w.Items) == 0 {
		return nil, fmt.Errorf("%s: no requests", name)
	}
	return w, nil
}

// Generate makes a workload of n users that no helper knows (user names
// "bench-absent-N" on server "bench.invalid", random passwords): every auth
// and isuser about them must be answered no, which holds for any correct
// helper. If users is not nil, n more users with random passwords are
// written to it, one "user@server:password" line each (the users-file format
// of the sample helpers), and the workload also asks for them: auth with the
// right password (yes), with a wrong one (no), and isuser (yes). The order
// is shuffled with seed.
func Generate(n int, users io.Writer, seed uint64) (*Workload, error) {
	if n < 1 {
		return nil, errors.New("generate: want at least one user")
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := &Workload{Source: fmt.Sprintf("%d generated absent users", n)}
	if users != nil {
		w.Source = fmt.Sprintf("%d generated users (written to the users file) and %d absent ones", n, n)
		bw := bufio.NewWriter(users)
		for i := range n {
			u, s, pw := fmt.Sprintf("bench-%06d", i), "bench.example", randomPassword(rng)
			fmt.Fprintf(bw, "%s@%s:%s\n", u, s, pw)
			w.Items = append(w.Items,
				Item{framing.Request{Op: framing.OpAuth, User: u, Server: s, Password: pw}, ExpectYes},
				Item{framing.Request{Op: framing.OpAuth, User: u, Server: s, Password: pw + "-wrong"}, ExpectNo},
				Item{framing.Request{Op: framing.OpIsUser, User: u, Server: s}, ExpectYes},
			)
		}
		if err := bw.Flush(); err != nil {
			return nil, fmt.Errorf("writing the users file: %w", err)
		}
	}
	for i := range n {
		u, s := fmt.Sprintf("bench-absent-%06d", i), "bench.invalid"
		w.Items = append(w.Items,
			Item{framing.Request{Op: framing.OpAuth, User: u, Server: s, Password: randomPassword(rng)}, ExpectNo},
			Item{framing.Request{Op: framing.OpIsUser, User: u, Server: s}, ExpectNo},
		)
	}
	rng.Shuffle(len(w.Items), func(i, j int) { w.Items[i], w.Items[j] = w.Items[j], w.Items[i] })
	return w, nil
}

func randomPassword(rng *rand.Rand) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:!#%+ "
	var b strings.Builder
	for range 16 {
		b.WriteByte(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

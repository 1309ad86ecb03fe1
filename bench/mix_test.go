package bench

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseMix(t *testing.T) {
	m, err := ParseMix("valid=60, invalid=30,unknown=10")
	if err != nil || m != (Mix{Valid: 60, Invalid: 30, Unknown: 10}) || m.String() != "valid=60,invalid=30,unknown=10" {
		t.Errorf("%+v %v", m, err)
	}
	for _, bad := range []string{"", "valid", "valid=x", "valid=-1", "great=5", "valid=0", "valid=1,valid=2"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// The mix is kept, the answers expected are the users', and the repeat
// knob repeats about as often as asked.
func TestGenerateMix(t *testing.T) {
	users := GenerateUsers(200, 7)
	target := newUsersTarget(users)
	for _, repeat := range []float64{0, 0.5, 0.9} {
		w, err := GenerateMix(MixConfig{Mix: Mix{Valid: 60, Invalid: 30, Unknown: 10}, Known: users, Repeat: repeat, Length: 20000, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Items) != 20000 {
			t.Fatalf("%d items", len(w.Items))
		}
		var kinds [3]int
		repeats := 0
		for i, it := range w.Items {
			yes, _ := target.Do(context.Background(), 0, it.Req)
			if yes != (it.Expect == ExpectYes) {
				t.Fatalf("item %s expects %v, the users say %v", it.Req, it.Expect, yes)
			}
			switch {
			case it.Expect == ExpectYes:
				kinds[0]++
			case it.Req.Server == "bench.invalid":
				kinds[2]++
			default:
				kinds[1]++
			}
			for j := max(0, i-16); j < i; j++ {
				if w.Items[j] == it {
					repeats++
					break
				}
			}
		}
		for k, want := range []float64{0.6, 0.3, 0.1} {
			if got := float64(kinds[k]) / 20000; math.Abs(got-want) > 0.03 {
				t.Errorf("repeat %v: kind %d is %.3f of the items, want %.2f", repeat, k, got, want)
			}
		}
		if got := float64(repeats) / 20000; math.Abs(got-repeat) > 0.03 {
			t.Errorf("repeat %v: %.3f of the items repeat one of the 16 before", repeat, got)
		}
	}
	if _, err := GenerateMix(MixConfig{Mix: Mix{Valid: 1}}); !errors.Is(err, ErrNoKnownUsers) {
		t.Errorf("no known users: %v", err)
	}
	if w, err := GenerateMix(MixConfig{Mix: Mix{Unknown: 1, NoUser: 1}}); err != nil || w.Checked() != len(w.Items) {
		t.Errorf("absent users only: %v", err)
	}
}

func TestUsersFile(t *testing.T) {
	users := GenerateUsers(20, 1)
	var b bytes.Buffer
	if err := WriteUsers(&b, users); err != nil {
		t.Fatal(err)
	}
	back, err := ReadUsers(strings.NewReader("# users\n\n"+b.String()+"no colon here\r\n"), "u")
	if err != nil || len(back) != 20 || back[5] != users[5] {
		t.Fatalf("%d users %v", len(back), err)
	}
	for _, bad := range []string{"nouser:pw\n", "@server:pw\n", "user@:pw\n", "# nothing\n", "a@b:pw\x00\n"} {
		_, err := ReadUsers(strings.NewReader(bad), "u")
		if err == nil {
			t.Errorf("%q read", bad)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("%q: the error shows the password: %v", bad, err)
		}
	}
}

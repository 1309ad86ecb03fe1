package bench

import (
	"bytes"
	"strings"
	"testing"

	"github.com/authpool/authpool/framing"
)

func TestParseCredentials(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Item
		wantErr string // substring; "" means no error
	}{
		{
			name: "every form",
			in: "# comment\n\nauth:alice:example.com:wonderland 1\r\n" +
				"auth:carol:example.com:a:b:c 1\n" +
				"auth:bob:example.com:with space and\ttab 0\n" +
				"isuser:bob:example.com\t1\n" +
				"setpass:bob:example.com:new 1\n",
			want: []Item{
				{framing.Request{Op: framing.OpAuth, User: "alice", Server: "example.com", Password: "wonderland"}, ExpectYes},
				{framing.Request{Op: framing.OpAuth, User: "carol", Server: "example.com", Password: "a:b:c"}, ExpectYes},
				{framing.Request{Op: framing.OpAuth, User: "bob", Server: "example.com", Password: "with space and\ttab"}, ExpectNo},
				{framing.Request{Op: framing.OpIsUser, User: "bob", Server: "example.com"}, ExpectYes},
				{framing.Request{Op: framing.OpSetPass, User: "bob", Server: "example.com", Password: "new"}, ExpectYes},
			},
		},
		{name: "no expected answer", in: "auth:alice:example.com:secret\n", wantErr: "creds:1"},
		{name: "expected not 0 or 1", in: "auth:alice:example.com:secret yes\n", wantErr: "must be 1 or 0"},
		{name: "bad request", in: "# x\nfly:alice:example.com 1\n", wantErr: "creds:2"},
		{name: "colon in user", in: "isuser:a:b:example.com 1\n", wantErr: "creds:1"},
		{name: "empty", in: "# nothing\n", wantErr: "no requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := ParseCredentials(strings.NewReader(tt.in), "creds")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(w.Items) != len(tt.want) {
				t.Fatalf("got %d items, want %d", len(w.Items), len(tt.want))
			}
			for i := range tt.want {
				if w.Items[i] != tt.want[i] {
					t.Errorf("item %d = %v %v, want %v %v", i, w.Items[i].Req, w.Items[i].Expect, tt.want[i].Req, tt.want[i].Expect)
				}
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name      string
		usersFile bool
		wantItems int
		wantYes   int
	}{
		{"absent users only", false, 2 * 5, 0},
		{"with a users file", true, 3*5 + 2*5, 2 * 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			var users *bytes.Buffer
			if tt.usersFile {
				users = &buf
			}
			var w *Workload
			var err error
			if users != nil {
				w, err = Generate(5, users, 1)
			} else {
				w, err = Generate(5, nil, 1)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(w.Items) != tt.wantItems || w.Checked() != tt.wantItems {
				t.Fatalf("%d items, %d checked; want %d", len(w.Items), w.Checked(), tt.wantItems)
			}
			yes := 0
			known := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				if k, pw, ok := strings.Cut(l, ":"); ok {
					known[k] = pw
				}
			}
			for _, it := range w.Items {
				if err := it.Req.Validate(); err != nil {
					t.Fatalf("generated an invalid request: %v", err)
				}
				pw, ok := known[it.Req.User+"@"+it.Req.Server]
				want := ok && (it.Req.Op == framing.OpIsUser || it.Req.Password == pw)
				if (it.Expect == ExpectYes) != want {
					t.Errorf("%v expects %v, but the users file says %v", it.Req, it.Expect, want)
				}
				if it.Expect == ExpectYes {
					yes++
				}
			}
			if yes != tt.wantYes {
				t.Errorf("%d yes items, want %d", yes, tt.wantYes)
			}
		})
	}
}

package cache

import (
	"bytes"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/authpool/authpool/framing"
)

// TestPasswordNeverStored caches answers about a user, then reads every
// byte reachable from the Cache, through maps, pointers, interfaces and the
// LRU's own structures, and looks for the password and the user name.
func TestPasswordNeverStored(t *testing.T) {
	const (
		user     = "Unique-User-Name-7"
		password = "S3cret-Unique-Pw-1"
	)
	f := newFake()
	f.SetPassword(user+"@example.com", password)
	c := mustNew(t, Config{Next: f, TTL: time.Minute, NegativeTTL: time.Minute})
	for _, req := range []framing.Request{auth(user, password), auth(user, password+"x"), isuser(user)} {
		ask(t, c, req)
		ask(t, c, req) // and a hit
	}
	if st := c.Stats(); st.Entries != 3 || st.Hits != 3 {
		t.Fatalf("stats %+v, want 3 entries and 3 hits", st)
	}
	// The fake holds the user store, which a helper would: leave it out.
	next := c.next
	c.next = nil
	defer func() { c.next = next }()

	mem := reachableBytes(c)
	// The walk must reach the entries to prove anything.
	if ek := c.key.entry(auth(user, password)); !bytes.Contains(mem, ek[:]) {
		t.Fatal("the walk did not reach the entry keys")
	}
	for _, secret := range []string{password, user} {
		if bytes.Contains(mem, []byte(secret)) {
			t.Errorf("%q found in the cache's memory", secret)
		}
	}
}

// TestReachableBytesFindsHiddenStrings checks the walk itself: a string
// behind a map, a pointer, an interface and a slice is found.
func TestReachableBytesFindsHiddenStrings(t *testing.T) {
	type inner struct{ s any }
	type outer struct {
		m map[[2]byte]*inner
		l []*outer
	}
	o := &outer{m: map[[2]byte]*inner{{1, 2}: {s: []byte("needle-1")}}}
	o.l = []*outer{o, {m: map[[2]byte]*inner{{3, 4}: {s: "needle-2"}}}}
	mem := reachableBytes(o)
	for _, s := range []string{"needle-1", "needle-2", "\x01\x02", "\x03\x04"} {
		if !bytes.Contains(mem, []byte(s)) {
			t.Errorf("%q not found", s)
		}
	}
}

// reachableBytes returns every string and byte reachable from v, joined.
func reachableBytes(v any) []byte {
	w := walker{seen: make(map[visit]bool)}
	w.walk(reflect.ValueOf(v))
	return w.out
}

type walker struct {
	out  []byte
	seen map[visit]bool
}

type visit struct {
	p unsafe.Pointer
	t reflect.Type
	n int
}

func (w *walker) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		w.out = append(w.out, v.String()...)
	case reflect.Uint8:
		w.out = append(w.out, byte(v.Uint()))
	case reflect.Pointer, reflect.Map, reflect.Slice:
		if v.IsNil() {
			return
		}
		// By address and type: a struct and its first field share an
		// address, and a slice may be a prefix of another.
		key := visit{p: v.UnsafePointer(), t: v.Type()}
		if v.Kind() == reflect.Slice {
			key.n = v.Len()
		}
		if w.seen[key] {
			return
		}
		w.seen[key] = true
		switch v.Kind() {
		case reflect.Pointer:
			w.walk(v.Elem())
		case reflect.Map:
			for it := v.MapRange(); it.Next(); {
				w.walk(it.Key())
				w.walk(it.Value())
			}
		case reflect.Slice:
			w.walkElems(v)
		}
	case reflect.Interface:
		if !v.IsNil() {
			w.walk(v.Elem())
		}
	case reflect.Array:
		w.walkElems(v)
	case reflect.Struct:
		for i := range v.NumField() {
			w.walk(v.Field(i))
		}
	}
	// Numbers other than bytes, funcs, chans: nothing to read.
}

func (w *walker) walkElems(v reflect.Value) {
	for i := range v.Len() {
		w.walk(v.Index(i))
	}
}

package ptyproc

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"time"
	"unicode/utf8"
)

// Limits on what a helper's secret window holds, whatever the window: a
// flood of requests, or of long passwords, makes the oldest go early rather
// than memory grow. 8192 passwords is 30 s of a helper answering 270
// requests a second, each with a password never seen before.
const (
	maxSecrets     = 8192
	maxSecretBytes = 1 << 20
)

// secretWindow holds copies of the passwords recently sent to one helper,
// for the redaction of its stderr, and overwrites each with zeros once it
// has not been sent for the window, or when the window is closed. The
// copies are the only ones ptyproc makes, and a []byte, unlike the
// caller's string, can be wiped.
type secretWindow struct {
	window time.Duration

	mu         sync.Mutex
	head, tail *secret // oldest first
	n, size    int
	byHash     map[uint64][]*secret
	lens       map[int]int  // how many secrets have each length
	filter     [1024]uint64 // one bit per hash prefix, a quick "surely not"
	filterOld  bool         // secrets were removed since filter was built
	timer      *time.Timer
	armed      bool
	closed     bool
}

type secret struct {
	b          []byte
	hash       uint64
	at         time.Time // last sent
	prev, next *secret
}

func newSecretWindow(window time.Duration) *secretWindow {
	return &secretWindow{window: window, byHash: make(map[uint64][]*secret), lens: make(map[int]int)}
}

// add keeps s for the window, or for another window if it is kept already.
// A secret that is not valid UTF-8 is also kept as encoders that replace
// each invalid byte with U+FFFD print it (Go's encoding/json, for one).
func (w *secretWindow) add(s string) {
	if s == "" {
		return
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	// A password kept already (a user logging in again) is only
	// refreshed; only one not kept yet is copied, which is the one
	// allocation a request makes here.
	if !w.refresh(s, now) {
		w.addBytes([]byte(s), now)
	}
	if !utf8.ValidString(s) {
		var b []byte
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, s[i:i+n]...)
			}
			i += n
		}
		w.addBytes(b, now)
	}
	w.expire(now)
	w.arm(now)
}

// refresh restarts the window of s if it is kept already, and reports
// whether it was. Callers hold mu.
func (w *secretWindow) refresh(s string, now time.Time) bool {
	h := hashString(s)
	for _, e := range w.byHash[h] {
		if string(e.b) == s {
			w.touch(e, now)
			return true
		}
	}
	return false
}

// touch restarts e's window. Callers hold mu.
func (w *secretWindow) touch(e *secret, now time.Time) {
	e.at = now
	w.unlink(e)
	w.pushBack(e)
}

// addBytes keeps b, which it then owns. Callers hold mu.
func (w *secretWindow) addBytes(b []byte, now time.Time) {
	h := hashBytes(b)
	for _, e := range w.byHash[h] {
		if bytes.Equal(e.b, b) {
			clear(b)
			w.touch(e, now)
			return
		}
	}
	e := &secret{b: b, hash: h, at: now}
	w.pushBack(e)
	w.byHash[h] = append(w.byHash[h], e)
	w.lens[len(e.b)]++
	w.n++
	w.size += len(e.b)
	w.filter[h>>54] |= 1 << (h >> 48 & 63)
	for w.n > maxSecrets || w.size > maxSecretBytes {
		w.remove(w.head)
	}
}

// expire wipes the secrets not sent within the window before now.
func (w *secretWindow) expire(now time.Time) {
	for w.head != nil && now.Sub(w.head.at) >= w.window {
		w.remove(w.head)
	}
}

// arm makes sure the timer will wipe the oldest secret when it expires,
// even if nothing else happens.
func (w *secretWindow) arm(now time.Time) {
	if w.armed || w.head == nil {
		return
	}
	d := w.head.at.Add(w.window).Sub(now)
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.onTimer)
	} else {
		w.timer.Reset(d)
	}
	w.armed = true
}

func (w *secretWindow) onTimer() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = false
	if w.closed {
		return
	}
	now := time.Now()
	w.expire(now)
	w.arm(now)
}

// close wipes every secret and keeps no more.
func (w *secretWindow) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for w.head != nil {
		w.remove(w.head)
	}
	if w.timer != nil {
		w.timer.Stop()
	}
}

func (w *secretWindow) remove(e *secret) {
	w.unlink(e)
	bucket := w.byHash[e.hash]
	for i, o := range bucket {
		if o == e {
			bucket = append(bucket[:i], bucket[i+1:]...)
			break
		}
	}
	if len(bucket) == 0 {
		delete(w.byHash, e.hash)
	} else {
		w.byHash[e.hash] = bucket
	}
	if w.lens[len(e.b)]--; w.lens[len(e.b)] == 0 {
		delete(w.lens, len(e.b))
	}
	w.n--
	w.size -= len(e.b)
	w.filterOld = true
	clear(e.b)
	e.b = nil
}

func (w *secretWindow) pushBack(e *secret) {
	e.prev, e.next = w.tail, nil
	if w.tail != nil {
		w.tail.next = e
	} else {
		w.head = e
	}
	w.tail = e
}

func (w *secretWindow) unlink(e *secret) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		w.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		w.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// mayHold is the filter's quick answer for a hash: false means no secret
// has it. Callers hold mu.
func (w *secretWindow) mayHold(h uint64) bool {
	if w.filterOld {
		w.filter = [1024]uint64{}
		for e := w.head; e != nil; e = e.next {
			w.filter[e.hash>>54] |= 1 << (e.hash >> 48 & 63)
		}
		w.filterOld = false
	}
	return w.filter[h>>54]&(1<<(h>>48&63)) != 0
}

// hashBase is the base of the polynomial (Rabin-Karp) hash the secrets are
// looked up by. Chosen at random, so that no helper output can be prepared
// to collide; a collision would cost only a comparison anyway.
var hashBase = rand.Uint64() | 1

func hashBytes(b []byte) uint64 { return hashOf(b) }

func hashString(s string) uint64 { return hashOf(s) }

func hashOf[T string | []byte](b T) uint64 {
	var h uint64
	for i := range len(b) {
		h = h*hashBase + uint64(b[i])
	}
	return h
}

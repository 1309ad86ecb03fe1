package penalty

import (
	"encoding/binary"
	"math/bits"
)

// index finds a slot by its key: open addressing with linear probing over
// slot numbers plus one (zero is an empty cell), at most half full, so it
// costs 4 to 16 bytes a key. Keys made by a Guard are already uniform;
// the multiplication spreads any others (tests count keys up from zero).
type index struct {
	cells []int32 // a power of two long
	shift uint    // 64 - log2(len(cells))
	n     int     // keys held
}

const minIndexCells = 1024

// home is key's first cell: the top bits of a Fibonacci hash, which
// depend on every bit of the key's first and last eight bytes.
func (x *index) home(k *Key) int {
	h := binary.LittleEndian.Uint64(k[:8]) ^ binary.BigEndian.Uint64(k[8:])
	return int((h * 0x9E3779B97F4A7C15) >> x.shift)
}

// find returns the slot holding key.
func (x *index) find(slots []slot, key Key) (int32, bool) {
	if x.n == 0 {
		return 0, false
	}
	_, v := x.cell(slots, &key)
	return v - 1, v != 0
}

// cell is where key is, or the empty cell where it would go, and what
// that cell holds.
func (x *index) cell(slots []slot, key *Key) (int, int32) {
	mask := len(x.cells) - 1
	for c := x.home(key); ; c = (c + 1) & mask {
		v := x.cells[c]
		if v == 0 || slots[v-1].key == *key {
			return c, v
		}
	}
}

// add indexes slot i, whose key is not indexed yet.
func (x *index) add(slots []slot, i int32) {
	if 2*(x.n+1) > len(x.cells) {
		x.grow(slots)
	}
	c, _ := x.cell(slots, &slots[i].key)
	x.cells[c] = i + 1
	x.n++
}

func (x *index) grow(slots []slot) {
	old := x.cells
	x.cells = make([]int32, max(2*len(old), minIndexCells))
	x.shift = uint(64 - bits.Len(uint(len(x.cells)-1)))
	for _, v := range old {
		if v != 0 {
			c, _ := x.cell(slots, &slots[v-1].key)
			x.cells[c] = v
		}
	}
}

// remove drops slot i's key, moving back the keys after it in its run so
// that every key stays reachable from its home cell without tombstones.
func (x *index) remove(slots []slot, i int32) {
	c, v := x.cell(slots, &slots[i].key)
	if v == 0 {
		return
	}
	x.cells[c] = 0
	x.n--
	mask := len(x.cells) - 1
	for next := (c + 1) & mask; x.cells[next] != 0; next = (next + 1) & mask {
		home := x.home(&slots[x.cells[next]-1].key)
		// The key at next may fill the hole at c unless its home lies
		// cyclically in (c, next].
		if (next-home)&mask >= (next-c)&mask {
			x.cells[c], x.cells[next] = x.cells[next], 0
			c = next
		}
	}
}

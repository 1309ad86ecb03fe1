package pool

import (
	"slices"
	"testing"
)

// TestWaitLine: the line of waiting callers stays first come, first served
// through growth, wrap-around and callers leaving from anywhere in it.
func TestWaitLine(t *testing.T) {
	ws := make([]*waiter, 40)
	for i := range ws {
		ws[i] = &waiter{}
	}
	type op struct {
		push, pop int // push ws[push] (-1: none); pop that many
		remove    int // remove ws[remove] (-1: none)
	}
	for _, tt := range []struct {
		name string
		ops  []op
		want []int // what is left, front first
	}{
		{"fifo", []op{{0, 0, -1}, {1, 0, -1}, {2, 1, -1}}, []int{1, 2}},
		{"grow past the first ring", func() []op {
			var o []op
			for i := range 20 {
				o = append(o, op{i, 0, -1})
			}
			return append(o, op{-1, 3, -1})
		}(), []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}},
		{"wrap around, then grow", func() []op {
			var o []op
			for i := range 6 {
				o = append(o, op{i, 0, -1})
			}
			o = append(o, op{-1, 5, -1})
			for i := 6; i < 16; i++ {
				o = append(o, op{i, 0, -1})
			}
			return o
		}(), []int{5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
		{"remove front, middle, back and absent", []op{
			{0, 0, -1}, {1, 0, -1}, {2, 0, -1}, {3, 0, -1}, {4, 0, -1},
			{-1, 0, 0}, {-1, 0, 2}, {-1, 0, 4}, {-1, 0, 30},
		}, []int{1, 3}},
		{"remove across the wrap", func() []op {
			var o []op
			for i := range 8 {
				o = append(o, op{i, 0, -1})
			}
			o = append(o, op{-1, 6, -1}, op{8, 0, -1}, op{9, 0, -1}, op{10, 0, -1}, op{-1, 0, 7})
			return o
		}(), []int{6, 8, 9, 10}},
		{"pop from empty", []op{{-1, 2, -1}, {5, 0, -1}}, []int{5}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var l waitLine
			for _, o := range tt.ops {
				if o.push >= 0 {
					l.push(ws[o.push])
				}
				for range o.pop {
					l.pop()
				}
				if o.remove >= 0 {
					l.remove(ws[o.remove])
				}
			}
			var got []int
			for w := l.pop(); w != nil; w = l.pop() {
				got = append(got, slices.Index(ws, w))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("line = %v, want %v", got, tt.want)
			}
			if l.n != 0 {
				t.Fatalf("%d left after popping all", l.n)
			}
		})
	}
}

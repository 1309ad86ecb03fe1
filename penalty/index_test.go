package penalty

import (
	"math/rand/v2"
	"testing"
)

// The index against a map, through growth and removals at up to half
// full, where runs of neighbouring keys are long and a removal must move
// keys back.
func TestIndexModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	keys := make([]Key, 3000)
	for i := range keys {
		for j := range keys[i] {
			keys[i][j] = byte(rng.Uint32())
		}
	}
	var x index
	slots := make([]slot, len(keys))
	model := map[int32]bool{}
	for step := range 40000 {
		i := int32(rng.IntN(len(keys)))
		switch {
		case model[i] && rng.IntN(2) == 0:
			x.remove(slots, i)
			delete(model, i)
		case !model[i] && len(model) < 1500:
			slots[i] = slot{key: keys[i]}
			x.add(slots, i)
			model[i] = true
		}
		if x.n != len(model) {
			t.Fatalf("step %d: %d keys, model %d", step, x.n, len(model))
		}
		if step%500 == 0 || step > 39000 {
			for j := range keys {
				got, ok := x.find(slots, keys[j])
				if ok != model[int32(j)] || ok && got != int32(j) {
					t.Fatalf("step %d: find(key %d) = %d, %v; model %v", step, j, got, ok, model[int32(j)])
				}
			}
		}
	}
}

package result_test

import (
	"errors"
	"fmt"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

// A failure keeps its meaning across the wire: the server names the error by
// its kind, and the client turns the kind back into the same sentinel.
func Example() {
	err := fmt.Errorf("helper 3: %w", result.ErrTimeout)
	kind := result.Kind(err)
	fmt.Println(kind)

	back := result.Error(kind)
	fmt.Println(errors.Is(back, result.ErrTimeout))
	fmt.Println(result.Error(framing.KindInternal) == nil)
	fmt.Println(result.Outcome(true, nil), result.Outcome(true, result.ErrUntrusted))
	// Output:
	// timeout
	// true
	// true
	// yes untrusted
}

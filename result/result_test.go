package result

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/authpool/authpool/framing"
)

func TestKindRoundTrip(t *testing.T) {
	tests := []struct {
		err  error
		kind framing.ErrorKind
	}{
		{ErrBadRequest, framing.KindBadRequest},
		{ErrTimeout, framing.KindTimeout},
		{ErrUntrusted, framing.KindUntrusted},
		{ErrUnavailable, framing.KindUnavailable},
		{ErrOverloaded, framing.KindOverloaded},
		{ErrClosed, framing.KindClosed},
		{ErrProtocol, framing.KindProtocol},
		{ErrHelperExited, framing.KindExited},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			if got := Kind(fmt.Errorf("wrapped: %w", tt.err)); got != tt.kind {
				t.Errorf("Kind(%v) = %q, want %q", tt.err, got, tt.kind)
			}
			if got := Error(tt.kind); got != tt.err {
				t.Errorf("Error(%q) = %v, want %v", tt.kind, got, tt.err)
			}
		})
	}
}

func TestKindOfOthers(t *testing.T) {
	tests := []struct {
		err  error
		kind framing.ErrorKind
	}{
		{context.DeadlineExceeded, framing.KindTimeout},
		{context.Canceled, framing.KindClosed},
		{ErrHelperStart, framing.KindInternal},
		{errors.New("something else"), framing.KindInternal},
	}
	for _, tt := range tests {
		if got := Kind(tt.err); got != tt.kind {
			t.Errorf("Kind(%v) = %q, want %q", tt.err, got, tt.kind)
		}
	}
	for _, k := range []framing.ErrorKind{framing.KindInternal, "", "nonsense"} {
		if err := Error(k); err != nil {
			t.Errorf("Error(%q) = %v, want nil", k, err)
		}
	}
}

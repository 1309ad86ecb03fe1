package redisstore

import (
	"context"
	"errors"

	"github.com/valkey-io/valkey-go"
)

// probe checks that Redis takes the store's calls: a write (a paused or
// read-only Redis is not back) and the read script (scripts are loaded).
// The probe key is deleted, never written.
func (s *Store) probe(ctx context.Context, c valkey.Client) error {
	probe := s.cfg.Prefix + "probe"
	if err := c.Do(ctx, c.B().Del().Key(probe).Build()).Error(); err != nil {
		return err
	}
	v, err := getScript.Exec(ctx, c, []string{probe}, []string{s.window(), s.now()}).AsIntSlice()
	if err == nil && len(v) != 2 {
		err = errors.New("redisstore: the get script answered wrong")
	}
	return err
}

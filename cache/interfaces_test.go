package cache

import (
	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/server"
)

// The cache takes a pool and stands in for one before server.New.
var (
	_ Submitter        = (*pool.Pool)(nil)
	_ Submitter        = (*Cache)(nil)
	_ server.Submitter = (*Cache)(nil)
)

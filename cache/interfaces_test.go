package cache

import (
	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/server"
)

// The cache takes a pool and stands in for one before server.New.
var (
	_ Doer        = (*pool.Pool)(nil)
	_ Doer        = (*Cache)(nil)
	_ server.Doer = (*Cache)(nil)
)

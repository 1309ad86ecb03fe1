package penalty

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/authpool/authpool/framing"
)

// Doer answers one request: *pool.Pool, the cache and the Guard itself
// are Doers.
type Doer interface {
	Do(ctx context.Context, req framing.Request) (bool, error)
}

// Defaults of Config, the same as the daemon's flags'.
const (
	DefaultBase       = 2 * time.Second
	DefaultMax        = 15 * time.Second
	DefaultUserMax    = 2 * time.Second
	DefaultMaxWaiting = 64
	DefaultIPv6Bits   = 64
)

// Config configures a Guard. Next is required; every zero value has the
// meaning its comment gives, which is also the default of the daemon flag
// named in brackets.
type Config struct {
	// Next answers the requests the Guard lets through.
	Next Doer
	// Off passes every request to Next untouched: no wait, no state, no
	// log line. It is what --penalty-base 0 sets; a zero Base here means
	// the default, as every zero value in Config does.
	Off bool
	// Base is a key's penalty after its first failure; each further
	// failure doubles it. Zero means DefaultBase (--penalty-base 2s).
	Base time.Duration
	// Max caps a key's penalty. Zero means DefaultMax (--penalty-max 15s).
	Max time.Duration
	// UserMax caps the penalty a user's own key adds at an address that
	// has no failure of its own, and whenever the address is unknown, so
	// that a guesser elsewhere cannot lock the real user out. Zero means
	// DefaultUserMax (--penalty-user-max 2s).
	UserMax time.Duration
	// Window is how long a key's failures are remembered after its last
	// one, for the store New makes when Store is nil. Zero means
	// DefaultWindow (--penalty-window 10m).
	Window time.Duration
	// MaxKeys bounds the keys of the store New makes when Store is nil.
	// Zero means DefaultMaxKeys (--penalty-max-keys 250000).
	MaxKeys int
	// Exempt lists networks whose addresses are never delayed and whose
	// failures raise no address penalty (webmail front ends that log users
	// in on their behalf). Empty means none (--penalty-exempt).
	Exempt []netip.Prefix
	// MaxWaiting bounds the attempts in line on one key; more fail at
	// once with ErrBusy. Zero means DefaultMaxWaiting.
	MaxWaiting int
	// MaxWait bounds an attempt's time in line and waiting out its
	// penalty when its context has no deadline (a context's deadline
	// bounds it otherwise); Next's own time is not counted. Zero means
	// twice Max, so that an attempt behind another one at the full
	// penalty still gets its turn.
	MaxWait time.Duration
	// IPv6Bits is the prefix length IPv6 addresses are penalised by: a
	// host that holds a whole /64 gains nothing by changing address.
	// IPv4 addresses are penalised one by one. Zero means DefaultIPv6Bits.
	IPv6Bits int
	// Store keeps the penalties. Nil means a MemoryStore with Window and
	// MaxKeys; a store shared by several daemons goes here.
	Store Store
	// Secret keys the hashes that stand for addresses, users and wrong
	// passwords. Nil means 32 random bytes made by New and never written
	// anywhere; daemons that share a Store must share a secret (at least
	// MinSecret bytes), which ReadSecretFile reads
	// (--cluster-secret-file).
	Secret []byte
	// Logger receives one line per failed login (the fail2ban line, see
	// docs/FAIL2BAN.md) and store errors. It must not be rate limited, or
	// fail2ban misses failures: the penalties themselves bound how fast
	// one address can fail. Nil means no log.
	Logger *slog.Logger
}

// errConfig wraps every error New returns for a bad Config.
var errConfig = errors.New("penalty: bad configuration")

func (cfg *Config) fill() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{errConfig}, args...)...)
	}
	switch {
	case cfg.Next == nil:
		return bad("Next is nil")
	case cfg.Base < 0, cfg.Max < 0, cfg.UserMax < 0, cfg.Window < 0, cfg.MaxWait < 0:
		return bad("negative duration")
	case cfg.MaxKeys < 0, cfg.MaxWaiting < 0:
		return bad("negative bound")
	case cfg.IPv6Bits < 0 || cfg.IPv6Bits > 128:
		return bad("IPv6Bits %d is not a prefix length", cfg.IPv6Bits)
	case cfg.Secret != nil && len(cfg.Secret) < MinSecret:
		return bad("secret of %d bytes: want at least %d", len(cfg.Secret), MinSecret)
	}
	exempt := make([]netip.Prefix, len(cfg.Exempt))
	for i, p := range cfg.Exempt {
		if !p.IsValid() {
			return bad("invalid exempt network")
		}
		// Addresses are matched unmapped (client), so IPv4-mapped
		// networks are too.
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		exempt[i] = p.Masked()
	}
	cfg.Exempt = exempt
	fillDur(&cfg.Base, DefaultBase)
	fillDur(&cfg.Max, DefaultMax)
	fillDur(&cfg.UserMax, DefaultUserMax)
	fillDur(&cfg.Window, DefaultWindow)
	switch {
	case cfg.Base > cfg.Max:
		return bad("base %v above max %v", cfg.Base, cfg.Max)
	case cfg.UserMax > cfg.Max:
		return bad("user max %v above max %v", cfg.UserMax, cfg.Max)
	case cfg.Window < cfg.Max:
		// A key forgotten before its penalty is over would let the next
		// guess through early.
		return bad("window %v shorter than max %v", cfg.Window, cfg.Max)
	}
	fillDur(&cfg.MaxWait, 2*cfg.Max)
	if cfg.MaxWaiting == 0 {
		cfg.MaxWaiting = DefaultMaxWaiting
	}
	if cfg.IPv6Bits == 0 {
		cfg.IPv6Bits = DefaultIPv6Bits
	}
	if cfg.Secret == nil {
		cfg.Secret = newSecret()
	} else {
		cfg.Secret = append([]byte(nil), cfg.Secret...)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Store == nil {
		s, err := NewMemoryStore(MemoryConfig{Window: cfg.Window, MaxKeys: cfg.MaxKeys})
		if err != nil {
			return err
		}
		cfg.Store = s
	}
	return nil
}

func fillDur(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

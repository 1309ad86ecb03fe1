package main

import (
	"flag"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/authpool/authpool/penalty"
)

// penaltyFlags are serve's settings of the guessing defence (package
// penalty, docs/PENALTIES.md).
type penaltyFlags struct {
	base, max, window, userMax time.Duration
	maxKeys                    int
	exempt                     prefixList
}

func (f *penaltyFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.base, "penalty-base", penalty.DefaultBase, "delay a password check this long after its address, user or (user, address) failed once; doubles with each further failure (0: off, no password guessing defence)")
	fs.DurationVar(&f.max, "penalty-max", penalty.DefaultMax, "longest delay of one check after failures")
	fs.DurationVar(&f.window, "penalty-window", penalty.DefaultWindow, "forget a key's failures this long after its last one")
	fs.DurationVar(&f.userMax, "penalty-user-max", penalty.DefaultUserMax, "longest delay a user's failures elsewhere cause a login from a clean or unknown address, so a guesser cannot lock the user out")
	fs.IntVar(&f.maxKeys, "penalty-max-keys", penalty.DefaultMaxKeys, "most keys (addresses, users, pairs) with failures remembered; the oldest are forgotten first (80 bytes each)")
	fs.Var(&f.exempt, "penalty-exempt", "never delay logins from these networks (CIDR or address, comma-separated or repeated), such as a webmail front end that logs users in from its own address")
}

// config is the Guard's configuration; the daemon sets Next and Logger.
func (f *penaltyFlags) config() penalty.Config {
	if f.base == 0 {
		// Off: the other settings do not matter, so they are not checked
		// against a base that is not there.
		return penalty.Config{Off: true}
	}
	return penalty.Config{
		Base:    f.base,
		Max:     f.max,
		Window:  f.window,
		UserMax: f.userMax,
		MaxKeys: f.maxKeys,
		Exempt:  f.exempt.prefixes,
	}
}

// changed reports whether a reload asks for other penalty settings.
func (f *penaltyFlags) changed(o *penaltyFlags) bool {
	return f.base != o.base || f.max != o.max || f.window != o.window || f.userMax != o.userMax ||
		f.maxKeys != o.maxKeys || !slices.Equal(f.exempt.prefixes, o.exempt.prefixes)
}

// prefixList collects networks: CIDRs or single addresses, comma-separated
// or repeated.
type prefixList struct{ prefixes []netip.Prefix }

func (l *prefixList) String() string {
	s := make([]string, len(l.prefixes))
	for i, p := range l.prefixes {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (l *prefixList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				return fmt.Errorf("%q is not a network (CIDR such as 192.0.2.0/24) or an address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Masked() != p {
			return fmt.Errorf("%q has host bits set: did you mean %s?", s, p.Masked())
		}
		l.prefixes = append(l.prefixes, p)
	}
	return nil
}

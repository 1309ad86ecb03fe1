package redisstore

import (
	"net/url"
	"strings"
)

// Check reports whether New would take cfg, without connecting: a daemon
// refuses a bad --redis before it starts anything. Its errors never hold
// the URL's password.
func (cfg Config) Check() error {
	_, err := cfg.fill()
	return err
}

// Redacted is a Redis URL fit for a log line: its password, if any,
// replaced by xxxxx. A URL that does not parse is not shown at all.
func Redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a Redis URL that does not parse)"
	}
	return u.Redacted()
}

// HasPassword reports whether a Redis URL holds a password, which must
// then not be written where others read it (a command line).
func HasPassword(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		// Unparsable: say yes, so that the caller keeps it out of sight;
		// New refuses it anyway.
		return strings.Contains(raw, "@")
	}
	_, ok := u.User.Password()
	return ok
}

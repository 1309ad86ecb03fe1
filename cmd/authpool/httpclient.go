package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/authpool/authpool/server"
)

// httpClientCredentials are the HTTP Basic credentials a command that asks
// the daemon's HTTP listener (status --http, bench --http) sends: from
// --http-credentials-file, else $AUTHPOOL_HTTP_CREDENTIALS, else none (a
// URL's USER:PASSWORD@ still works, but ps shows it). They are never
// printed.
func httpClientCredentials(file string) (user, pass string, err error) {
	var creds, from string
	switch {
	case file != "":
		b, err := readSecretFile(file)
		if err != nil {
			return "", "", fmt.Errorf("--http-credentials-file: %w", err)
		}
		creds, from = strings.TrimRight(string(b), "\r\n"), "--http-credentials-file"
	case os.Getenv("AUTHPOOL_HTTP_CREDENTIALS") != "":
		creds, from = os.Getenv("AUTHPOOL_HTTP_CREDENTIALS"), "$AUTHPOOL_HTTP_CREDENTIALS"
	default:
		return "", "", nil
	}
	if err := server.CheckCredentials(creds); err != nil {
		return "", "", fmt.Errorf("%s: %w", from, err)
	}
	user, pass, _ = strings.Cut(creds, ":")
	return user, pass, nil
}

// errNoCredentialsTarget is --http-credentials-file without --http.
var errNoCredentialsTarget = errors.New("--http-credentials-file is for --http")

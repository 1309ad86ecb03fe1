package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// loadConfigFile sets, from a TOML file, every flag of fs that the command
// line did not set: each key is a flag's name ("command", "processes",
// "timeout", "socket", "metrics", ...), so the file and the flags read
// alike and the command line wins. Durations are strings ("5s"); flags that
// repeat (env, allow-uid) take arrays; command takes a string (split like
// --command) or an array (the exact argv). Unknown keys and bad values are
// errors naming the key.
// A command given after "--" on the command line wins over the file's too.
// commandArgs receives an array command; nil for commands that take none.
func loadConfigFile(path string, fs *flag.FlagSet, commandArgs *[]string) error {
	var doc map[string]any
	if _, err := toml.DecodeFile(path, &doc); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	onCmdLine := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { onCmdLine[fl.Name] = true })
	if fs.NArg() > 0 {
		onCmdLine["command"] = true
	}
	for key, val := range doc {
		if err := setFromFile(fs, commandArgs, key, val, onCmdLine); err != nil {
			return fmt.Errorf("config %s: key %q: %w", path, key, err)
		}
	}
	return nil
}

func setFromFile(fs *flag.FlagSet, commandArgs *[]string, key string, val any, onCmdLine map[string]bool) error {
	if key == "config" || fs.Lookup(key) == nil {
		return fmt.Errorf("unknown key (keys are the flags of authpool %s, without the dashes)", fs.Name())
	}
	if onCmdLine[key] {
		return nil
	}
	if key == "command" && commandArgs != nil {
		if list, ok := val.([]any); ok {
			for _, v := range list {
				s, ok := v.(string)
				if !ok {
					return errors.New("an array command must hold strings")
				}
				*commandArgs = append(*commandArgs, s)
			}
			if len(*commandArgs) == 0 {
				return errors.New("empty command")
			}
			return nil
		}
	}
	if list, ok := val.([]any); ok {
		for _, v := range list {
			s, err := scalar(v)
			if err != nil {
				return err
			}
			if err := setFlag(fs, key, s); err != nil {
				return err
			}
		}
		return nil
	}
	s, err := scalar(val)
	if err != nil {
		return err
	}
	return setFlag(fs, key, s)
}

// setFlag sets a flag from a file or the environment, saying what was
// expected when the value does not parse: flag's own errors ("parse
// error") name neither.
func setFlag(fs *flag.FlagSet, name, value string) error {
	err := fs.Set(name, value)
	if err == nil {
		return nil
	}
	if g, ok := fs.Lookup(name).Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case time.Duration:
			return fmt.Errorf("%q is not a duration such as 5s, 500ms or 1m30s", value)
		case int, int64, uint, uint64:
			return fmt.Errorf("%q is not a whole number", value)
		case float64:
			return fmt.Errorf("%q is not a number", value)
		case bool:
			return fmt.Errorf("%q is not true or false", value)
		}
	}
	return err
}

// scalar renders a TOML value as the flag's text.
func scalar(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case bool:
		return strconv.FormatBool(v), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case time.Duration:
		return v.String(), nil
	}
	return "", fmt.Errorf("unsupported value %v (%T)", v, v)
}

// setFromEnv sets every flag of fs that the command line did not set from
// the environment variable prefix+NAME (the flag's name in capitals, "-"
// as "_"): AUTHPOOL_SOCKET for --socket. --config is not read this way.
func setFromEnv(fs *flag.FlagSet, prefix string) error {
	onCmdLine := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { onCmdLine[fl.Name] = true })
	var err error
	fs.VisitAll(func(fl *flag.Flag) {
		if err != nil || onCmdLine[fl.Name] || fl.Name == "config" {
			return
		}
		name := prefix + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if serr := setFlag(fs, fl.Name, v); serr != nil {
				err = fmt.Errorf("environment %s: %w", name, serr)
			}
		}
	})
	return err
}

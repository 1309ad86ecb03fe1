package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
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
func loadConfigFile(path string, fs *flag.FlagSet, f *serveFlags) error {
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
		if err := setFromFile(fs, f, key, val, onCmdLine); err != nil {
			return fmt.Errorf("config %s: key %q: %w", path, key, err)
		}
	}
	return nil
}

func setFromFile(fs *flag.FlagSet, f *serveFlags, key string, val any, onCmdLine map[string]bool) error {
	if key == "config" || fs.Lookup(key) == nil {
		return errors.New("unknown key (keys are the flags of authpool serve, without the dashes)")
	}
	if onCmdLine[key] {
		return nil
	}
	if key == "command" {
		if list, ok := val.([]any); ok {
			for _, v := range list {
				s, ok := v.(string)
				if !ok {
					return errors.New("an array command must hold strings")
				}
				f.commandArgs = append(f.commandArgs, s)
			}
			if len(f.commandArgs) == 0 {
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
			if err := fs.Set(key, s); err != nil {
				return err
			}
		}
		return nil
	}
	s, err := scalar(val)
	if err != nil {
		return err
	}
	return fs.Set(key, s)
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

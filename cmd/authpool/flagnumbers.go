package main

import (
	"flag"
	"fmt"
	"strings"
	"time"
)

// zeroSays is what a numeric flag's help text holds when 0 has a meaning
// of its own, which follows it: "(0: never)", "(0: twice --timeout)".
const zeroSays = "(0: "

// checkNumbers holds every numeric flag of fs, given or left at its
// default, to one rule, the same in every command: a negative value is
// refused, and so is 0 unless the flag's help text says what 0 means
// (zeroSays). So 0 is never read silently as some other number, and the
// help text is the one place that says which flags take it.
func checkNumbers(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(fl *flag.Flag) {
		if err != nil {
			return
		}
		g, ok := fl.Value.(flag.Getter)
		if !ok {
			return
		}
		var neg, zero bool
		switch v := g.Get().(type) {
		case int:
			neg, zero = v < 0, v == 0
		case int64:
			neg, zero = v < 0, v == 0
		case uint:
			zero = v == 0
		case uint64:
			zero = v == 0
		case float64:
			neg, zero = v < 0, v == 0
		case time.Duration:
			neg, zero = v < 0, v == 0
		default:
			return
		}
		switch {
		case neg:
			err = fmt.Errorf("--%s %s: cannot be negative", fl.Name, fl.Value)
		case zero && !strings.Contains(fl.Usage, zeroSays):
			err = fmt.Errorf("--%s %s: want more than 0 (the default is %s)", fl.Name, fl.Value, fl.DefValue)
		}
	})
	return err
}

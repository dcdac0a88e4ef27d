package cli

import (
	"fmt"
	"time"
)

// format is the value of the --output flag. It refuses anything but its
// two values when the flag is parsed, so a bad value is a usage error.
type format string

const (
	formatText format = "text"
	formatJSON format = "json"
)

func (f *format) String() string { return string(*f) }

// Set implements pflag.Value.
func (f *format) Set(s string) error {
	switch v := format(s); v {
	case formatText, formatJSON:
		*f = v
		return nil
	}
	return fmt.Errorf("want %s or %s", formatText, formatJSON)
}

// Type implements pflag.Value.
func (f *format) Type() string { return "text|json" }

// seconds is a duration for JSON documents.
func seconds(d time.Duration) float64 { return d.Seconds() }

// short is a duration for people: milliseconds, or microseconds below one.
func short(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// shortFingerprint is enough of a fingerprint to tell two apart by eye.
func shortFingerprint(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}

package cli_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kirayedar/kirayedar"
	"github.com/kirayedar/kirayedar/cli"
)

// With -o json every command prints one JSON object on stdout, with the
// fields doc.go promises, whether it succeeds or fails.
func TestJSONOutput(t *testing.T) {
	f := newFixture(t)
	failing := func(context.Context) (*kirayedar.Provisioner, error) { return nil, errors.New("connection refused") }

	steps := []struct {
		name  string
		open  cli.OpenFunc
		args  []string
		code  int
		check func(t *testing.T, doc map[string]any)
	}{
		{"create", f.open, []string{"create", "acme", "globex", "Bad-ID"}, cli.ExitFailure, func(t *testing.T, doc map[string]any) {
			wantField(t, doc, "succeeded", 2.0)
			wantField(t, doc, "failed", 1.0)
			results := list(t, doc, "results", 3)
			for i, want := range []string{"acme created", "globex created", "Bad-ID failed"} {
				r := object(t, results[i])
				if got := r["tenant"].(string) + " " + r["status"].(string); got != want {
					t.Errorf("results[%d] is %q, want %q", i, got, want)
				}
			}
			if _, ok := object(t, results[0])["error"]; ok {
				t.Errorf("a success has an error field: %v", results[0])
			}
			if msg, _ := object(t, results[2])["error"].(string); !strings.Contains(msg, "invalid tenant ID") {
				t.Errorf("the failure's error is %q, want the reason", msg)
			}
		}},
		{"list", f.open, []string{"list"}, cli.ExitOK, func(t *testing.T, doc map[string]any) {
			ids := list(t, doc, "tenants", 2)
			if ids[0] != "acme" || ids[1] != "globex" {
				t.Errorf("tenants are %v", ids)
			}
		}},
		{"status, behind the new models", f.open2, []string{"status"}, cli.ExitOK, func(t *testing.T, doc map[string]any) {
			wantField(t, doc, "fingerprint", f.v2.Plugin().Fingerprint())
			wantField(t, doc, "total", 2.0)
			wantField(t, doc, "current", 0.0)
			wantField(t, doc, "behind", 2.0)
			wantField(t, doc, "not_ready", 0.0)
			acme := object(t, list(t, doc, "tenants", 2)[0])
			wantField(t, acme, "id", "acme")
			wantField(t, acme, "status", "ready")
			wantField(t, acme, "current", false)
			wantField(t, acme, "fingerprint", f.v1.Plugin().Fingerprint())
			for _, key := range []string{"created_at", "migrated_at"} {
				s, _ := acme[key].(string)
				if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
					t.Errorf("%s is %v, want a time: %v", key, acme[key], err)
				}
			}
		}},
		{"migrate one", f.open2, []string{"migrate", "globex"}, cli.ExitOK, func(t *testing.T, doc map[string]any) {
			wantField(t, doc, "total", 1.0)
			wantField(t, doc, "migrated", 1.0)
			wantField(t, doc, "up_to_date", 0.0)
			wantField(t, doc, "failed", 0.0)
			wantField(t, doc, "fingerprint", f.v2.Plugin().Fingerprint())
			if d, ok := doc["duration_seconds"].(float64); !ok || d <= 0 {
				t.Errorf("duration_seconds is %v", doc["duration_seconds"])
			}
			r := object(t, list(t, doc, "results", 1)[0])
			wantField(t, r, "tenant", "globex")
			wantField(t, r, "status", "migrated")
			if _, ok := r["duration_seconds"].(float64); !ok {
				t.Errorf("the result's duration_seconds is %v", r["duration_seconds"])
			}
		}},
		{"migrate all", f.open2, []string{"migrate", "--all"}, cli.ExitOK, func(t *testing.T, doc map[string]any) {
			wantField(t, doc, "total", 2.0)
			wantField(t, doc, "migrated", 1.0)
			wantField(t, doc, "up_to_date", 1.0)
			results := list(t, doc, "results", 2)
			wantField(t, object(t, results[0]), "status", "migrated")
			wantField(t, object(t, results[1]), "status", "up-to-date")
		}},
		{"migrate, one missing", f.open2, []string{"migrate", "acme", "nope"}, cli.ExitFailure, func(t *testing.T, doc map[string]any) {
			wantField(t, doc, "failed", 1.0)
			nope := object(t, list(t, doc, "results", 2)[1])
			wantField(t, nope, "status", "failed")
			if msg, _ := nope["error"].(string); !strings.Contains(msg, "tenant not found") {
				t.Errorf("the failure's error is %q", msg)
			}
		}},
		{"rename", f.open2, []string{"rename", "globex", "initech"}, cli.ExitOK, func(t *testing.T, doc map[string]any) {
			wantField(t, doc, "from", "globex")
			wantField(t, doc, "to", "initech")
			wantField(t, doc, "status", "renamed")
		}},
		{"rename, failed", f.open2, []string{"rename", "globex", "hooli"}, cli.ExitFailure, func(t *testing.T, doc map[string]any) {
			wantField(t, doc, "status", "failed")
			if msg, _ := doc["error"].(string); !strings.Contains(msg, "tenant not found") {
				t.Errorf("error is %q", msg)
			}
		}},
		{"drop", f.open2, []string{"drop", "--yes", "acme", "nope"}, cli.ExitFailure, func(t *testing.T, doc map[string]any) {
			wantField(t, doc, "succeeded", 1.0)
			wantField(t, doc, "failed", 1.0)
			wantField(t, object(t, list(t, doc, "results", 2)[0]), "status", "dropped")
		}},
		{"status, empty", f.open2, []string{"drop", "--yes", "initech"}, cli.ExitOK, nil},
		{"list, empty", f.open2, []string{"list"}, cli.ExitOK, func(t *testing.T, doc map[string]any) {
			list(t, doc, "tenants", 0)
		}},
		{"no database", failing, []string{"status"}, cli.ExitFailure, func(t *testing.T, doc map[string]any) {
			if msg, _ := doc["error"].(string); !strings.Contains(msg, "connection refused") {
				t.Errorf("error is %q", msg)
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			args := append([]string{"--output", "json"}, s.args...)
			r := mustRun(t, s.open, s.code, args...)
			doc := decodeOne(t, r.stdout)
			if s.check != nil {
				s.check(t, doc)
			}
		})
	}
}

// Usage errors print no document: nothing ran.
func TestJSONUsageErrorPrintsNothing(t *testing.T) {
	f := newFixture(t)
	for _, args := range [][]string{{"-o", "json", "drop", "acme"}, {"-o", "json", "rename", "a"}, {"-o", "json", "nope"}} {
		r := mustRun(t, f.open, cli.ExitUsage, args...)
		if r.stdout != "" {
			t.Errorf("%q printed %q on stdout", args, r.stdout)
		}
	}
}

func wantField(t *testing.T, doc map[string]any, key string, want any) {
	t.Helper()
	if got, ok := doc[key]; !ok || got != want {
		t.Errorf("%s is %#v, want %#v (document %v)", key, got, want, doc)
	}
}

func list(t *testing.T, doc map[string]any, key string, n int) []any {
	t.Helper()
	l, ok := doc[key].([]any)
	if !ok || len(l) != n {
		t.Fatalf("%s is %#v, want a list of %d", key, doc[key], n)
	}
	return l
}

func object(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%#v is not an object", v)
	}
	return m
}

package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kirayedar/kirayedar"
)

// The bar (drawn when stderr is a terminal, which a test cannot fake through
// Main) counts tenants, prints failures above itself, and ends its line.
func TestBarProgress(t *testing.T) {
	var buf bytes.Buffer
	p := &barProgress{w: &buf}
	results := []kirayedar.TenantResult{
		{Tenant: "acme", Status: kirayedar.StatusMigrated, Duration: 3 * time.Millisecond},
		{Tenant: "globex", Status: kirayedar.StatusFailed, Err: &kirayedar.Error{Op: "migrate", Tenant: "globex", Err: errors.New("disk full")}},
		{Tenant: "initech", Status: kirayedar.StatusUpToDate},
	}
	for i, r := range results {
		p.update(kirayedar.Progress{Result: r, Done: i + 1, Total: len(results)})
	}
	p.finish()
	out := buf.String()
	for _, want := range []string{"migrating tenants", "(3/3", "[2/3] globex failed 0s: disk full\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("the bar's output has no %q:\n%q", want, out)
		}
	}
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("the bar does not end its line: %q", out)
	}

	// A run cut short still ends the bar's line.
	buf.Reset()
	p = &barProgress{w: &buf}
	p.update(kirayedar.Progress{Result: results[0], Done: 1, Total: 3})
	p.finish()
	if !strings.HasSuffix(buf.String(), "\n") {
		t.Errorf("an unfinished bar does not end its line: %q", buf.String())
	}
	newProgress(&buf).finish() // no tenants: nothing drawn, nothing to end
}

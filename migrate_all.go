package kirayedar

import (
	"context"
	"fmt"
	"time"

	"github.com/kirayedar/kirayedar/internal/provision"
)

// MigrateStatus is what a migration run did to one tenant.
type MigrateStatus int

// The outcomes of one tenant's migration.
const (
	// StatusMigrated: AutoMigrate ran and the registry records the models'
	// current fingerprint.
	StatusMigrated MigrateStatus = iota + 1
	// StatusUpToDate: the registry says the tenant is at the current
	// fingerprint already; nothing was sent to its tables.
	StatusUpToDate
	// StatusFailed: the migration failed (TenantResult.Err says why) or
	// did not start before the context ended. On PostgreSQL nothing of it
	// stays; on MySQL, whose DDL commits on its own, the statements that
	// ran before the failure stay, and the next run finishes the rest.
	StatusFailed
)

func (s MigrateStatus) String() string {
	switch s {
	case StatusMigrated:
		return "migrated"
	case StatusUpToDate:
		return "up-to-date"
	case StatusFailed:
		return "failed"
	}
	return fmt.Sprintf("MigrateStatus(%d)", int(s))
}

// MarshalText writes the status as its String, for JSON reports.
func (s MigrateStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a status written by MarshalText.
func (s *MigrateStatus) UnmarshalText(text []byte) error {
	for _, v := range []MigrateStatus{StatusMigrated, StatusUpToDate, StatusFailed} {
		if v.String() == string(text) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("kirayedar: unknown migrate status %q", text)
}

// TenantResult is the outcome of one tenant's migration.
type TenantResult struct {
	Tenant   string
	Status   MigrateStatus
	Duration time.Duration // time spent on the tenant, its lock wait included
	Err      error         // set when Status is StatusFailed; a *Error
}

// Progress is handed to MigrateOptions.Progress as each tenant finishes.
type Progress struct {
	Result TenantResult
	Done   int // tenants finished so far, this one included
	Total  int // tenants in the run
}

// MigrateOptions tunes MigrateAll. The zero value migrates every ready tenant
// that is behind, four at a time (one at a time on SQLite).
type MigrateOptions struct {
	// Concurrency is how many tenants migrate at once, each on its own
	// connection; default 4 (1 on SQLite, which takes one writer at a
	// time). A migration holds its connection (and on PostgreSQL its
	// transaction) for its whole duration, so keep this below the pool's
	// and the server's limits.
	Concurrency int
	// Tenants limits the run to these tenants. A listed tenant that is not
	// in the registry is reported as failed with ErrTenantNotFound.
	Tenants []string
	// Force migrates tenants whose recorded fingerprint is current, too:
	// for tables changed by hand, which the fingerprint does not see.
	Force bool
	// Progress, if set, is called once per tenant as it finishes, from one
	// goroutine at a time, in the order they finish. It should return
	// quickly: the run waits for it.
	Progress func(Progress)
}

// Report is the outcome of a MigrateAll run.
type Report struct {
	// Results holds one entry per tenant, sorted by tenant ID.
	Results  []TenantResult
	Migrated int
	UpToDate int
	Failed   int
	// Fingerprint is the tenant models' fingerprint the run migrated to.
	Fingerprint string
	Duration    time.Duration
}

// Total is the number of tenants in the run.
func (r Report) Total() int { return len(r.Results) }

// MigrateAll migrates every ready tenant whose registry fingerprint differs
// from the tenant models' (one registry query finds them; the others are
// reported up to date without a statement sent to their tables), with
// opts.Concurrency tenants at a time.

// MigrateAll migrates every ready tenant whose registry fingerprint differs
// from the tenant models' (one registry query finds them; the others are
// reported up to date without a statement sent to their tables), with
// opts.Concurrency tenants at a time.
//
// Each tenant migrates under its lock, as Migrate does, and looks at its
// registry row again once it holds it: two runs started together (two
// deploys) migrate each tenant once, the second finding it up to date. A
// failing tenant does not stop the run. When the context ends, running
// migrations are cancelled (rolled back on PostgreSQL), and tenants not yet
// started are reported failed with the context's error; a later run
// finishes them and repeats nothing that completed.
//
// The error is nil when no tenant failed; otherwise it says how many did and
// wraps the first failure's *Error (in tenant order).
func (pr *Provisioner) MigrateAll(ctx context.Context, opts MigrateOptions) (Report, error) {
	run := provision.Options{Concurrency: opts.Concurrency, Tenants: opts.Tenants, Force: opts.Force}
	if opts.Progress != nil {
		run.Progress = func(r provision.Result, done, total int) {
			opts.Progress(Progress{Result: resultOf(r), Done: done, Total: total})
		}
	}
	r, err := pr.core.MigrateAll(ctx, run)
	report := Report{
		Results:     make([]TenantResult, len(r.Results)),
		Migrated:    r.Migrated,
		UpToDate:    r.UpToDate,
		Failed:      r.Failed,
		Fingerprint: r.Fingerprint,
		Duration:    r.Duration,
	}
	for i, res := range r.Results {
		report.Results[i] = resultOf(res)
	}
	return report, err
}

func resultOf(r provision.Result) TenantResult {
	status := StatusFailed
	switch r.Status {
	case provision.Migrated:
		status = StatusMigrated
	case provision.UpToDate:
		status = StatusUpToDate
	}
	return TenantResult{Tenant: r.Tenant, Status: status, Duration: r.Duration, Err: r.Err}
}

package kirayedar

import (
	"github.com/kirayedar/kirayedar/telemetry"

	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar/dialect"
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
func (pr *Provisioner) MigrateAll(ctx context.Context, opts MigrateOptions) (report Report, err error) {
	ctx, rec := pr.p.tel.Begin(ctx, "migrate_all", "", "")
	defer func() {
		if v := recover(); v != nil {
			rec.EndRun(panicked(v), telemetry.RunCounts{Migrated: report.Migrated, UpToDate: report.UpToDate, Failed: report.Failed})
			panic(v)
		}
		rec.EndRun(err, telemetry.RunCounts{Migrated: report.Migrated, UpToDate: report.UpToDate, Failed: report.Failed})
	}()
	start := time.Now()
	job := migration{fingerprint: pr.p.Fingerprint(), force: opts.Force}
	report = Report{Fingerprint: job.fingerprint}
	rows, err := pr.reg.all(pr.global(ctx))
	if err != nil {
		return report, fmt.Errorf("kirayedar: migrate all: reading the registry: %w", err)
	}

	var todo []string
	var settled []TenantResult // decided without touching a tenant
	named := len(opts.Tenants) > 0
	wanted := map[string]bool{}
	unseen := map[string]bool{} // named tenants without a registry row so far
	for _, t := range opts.Tenants {
		wanted[t], unseen[t] = true, true
	}
	for _, row := range rows {
		if named && !wanted[row.ID] {
			continue
		}
		delete(unseen, row.ID)
		switch {
		case row.Status != statusReady:
			if named {
				settled = append(settled, failure(row.ID, ErrTenantNotFound))
			}
		case !opts.Force && row.migratedTo() == job.fingerprint:
			settled = append(settled, TenantResult{Tenant: row.ID, Status: StatusUpToDate})
		default:
			todo = append(todo, row.ID)
		}
	}
	for t := range unseen {
		if err := pr.p.ValidateTenantID(t); err != nil {
			settled = append(settled, failure(t, err))
		} else {
			settled = append(settled, failure(t, ErrTenantNotFound))
		}
	}

	total := len(settled) + len(todo)
	results := make([]TenantResult, 0, total)
	record := func(r TenantResult) {
		results = append(results, r)
		if opts.Progress != nil {
			opts.Progress(Progress{Result: r, Done: len(results), Total: total})
		}
	}
	sort.Slice(settled, func(i, j int) bool { return settled[i].Tenant < settled[j].Tenant })
	for _, r := range settled {
		record(r)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	each := pr.migrateEach(runCtx, todo, job, pr.concurrency(opts.Concurrency))
	defer func() {
		// A panicking Progress must not strand the workers: the tenants
		// not started yet fail at once, and the panic goes on.
		cancel()
		for range each {
		}
	}()
	for r := range each {
		record(r)
	}

	sort.Slice(results, func(i, j int) bool { return results[i].Tenant < results[j].Tenant })
	report.Results = results
	var first error
	for _, r := range results {
		switch r.Status {
		case StatusMigrated:
			report.Migrated++
		case StatusUpToDate:
			report.UpToDate++
		default:
			report.Failed++
			if first == nil {
				first = r.Err
			}
		}
	}
	report.Duration = time.Since(start)
	if first != nil {
		return report, fmt.Errorf("kirayedar: migrate all: %d of %d tenants failed; the first: %w", report.Failed, total, first)
	}
	return report, nil
}

// migrateEach migrates tenants with the given concurrency and yields each
// result as it is known.
func (pr *Provisioner) migrateEach(ctx context.Context, tenants []string, job migration, concurrency int) <-chan TenantResult {
	concurrency = min(concurrency, max(len(tenants), 1))
	jobs := make(chan string)
	out := make(chan TenantResult)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tenant := range jobs {
				if err := ctx.Err(); err != nil {
					// Never started, but a tenant of the run all the same:
					// it reports its one event, a failure.
					_, rec := pr.p.tel.Begin(ctx, "migrate", tenant, "")
					res := failure(tenant, err)
					rec.End(res.Err)
					out <- res
					continue
				}
				began := time.Now()
				status, err := pr.migrateTenant(ctx, tenant, job)
				out <- TenantResult{Tenant: tenant, Status: status, Duration: time.Since(began), Err: err}
			}
		}()
	}
	go func() {
		for _, t := range tenants {
			jobs <- t
		}
		close(jobs)
		wg.Wait()
		close(out)
	}()
	return out
}

// concurrency is MigrateOptions.Concurrency with its default: 4, or 1 on
// SQLite, which lets one writer in at a time.
func (pr *Provisioner) concurrency(n int) int {
	switch {
	case n > 0:
		return n
	case pr.p.engine == dialect.SQLite:
		return 1
	}
	return 4
}

func failure(tenant string, err error) TenantResult {
	return TenantResult{Tenant: tenant, Status: StatusFailed, Err: &Error{Op: "migrate", Tenant: tenant, Err: err}}
}

// migrateLocked is one tenant's migration, run by a backend on db (a
// transaction or a pinned connection) with the tenant's lock held: it reads
// the tenant's registry row under the lock, skips a tenant at the target
// fingerprint, and otherwise migrates it and records the fingerprint. enter
// runs its function with the tenant's tables current on db.
func (pr *Provisioner) migrateLocked(db *gorm.DB, tenant string, job migration, enter func(db *gorm.DB, tenant string, fn func() error) error) (MigrateStatus, error) {
	row, ok, err := pr.reg.row(db, tenant)
	switch {
	case err != nil:
		return StatusFailed, err
	case !ok || row.Status != statusReady:
		return StatusFailed, ErrTenantNotFound
	case !job.force && row.migratedTo() == job.fingerprint:
		return StatusUpToDate, nil
	}
	err = enter(db, tenant, func() error { return pr.upgradeTenant(db, tenant, job) })
	if err != nil {
		return StatusFailed, err
	}
	if err := pr.reg.migrated(db, tenant, job.fingerprint); err != nil {
		return StatusFailed, err
	}
	return StatusMigrated, nil
}

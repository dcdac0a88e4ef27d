package provision

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

// Status is what a migration run did to one tenant; the root package's
// Status documents each.
type Status int

// The outcomes of one tenant's migration.
const (
	Migrated Status = iota + 1
	UpToDate
	Failed
)

// Result is the outcome of one tenant's migration.
type Result struct {
	Tenant   string
	Status   Status
	Duration time.Duration
	Err      error
}

// Options tunes MigrateAll (see the root package's MigrateOptions).
type Options struct {
	Concurrency int
	Tenants     []string
	Force       bool
	// Progress is called once per tenant as it finishes, with the count
	// of tenants finished and in the run.
	Progress func(r Result, done, total int)
}

// Report is the outcome of a MigrateAll run.
type Report struct {
	Results     []Result // sorted by tenant ID
	Migrated    int
	UpToDate    int
	Failed      int
	Fingerprint string
	Duration    time.Duration
}

// MigrateAll migrates every ready tenant that is behind the models'
// fingerprint, opts.Concurrency at a time, each under its lock as Migrate
// does, looking at its registry row again once it holds it (two runs
// started together migrate each tenant once). A failing tenant does not
// stop the run; tenants not started when the context ends fail with its
// error. The root package's Provisioner.MigrateAll documents the rest.
func (pr *Provisioner) MigrateAll(ctx context.Context, opts Options) (report Report, err error) {
	ctx, rec := pr.cfg.Telemetry.Begin(ctx, "migrate_all", "", "")
	defer func() {
		if v := recover(); v != nil {
			rec.EndRun(panicked(v), telemetry.RunCounts{Migrated: report.Migrated, UpToDate: report.UpToDate, Failed: report.Failed})
			panic(v)
		}
		rec.EndRun(err, telemetry.RunCounts{Migrated: report.Migrated, UpToDate: report.UpToDate, Failed: report.Failed})
	}()
	start := time.Now()
	job := migration{fingerprint: pr.cfg.Fingerprint(), force: opts.Force}
	report = Report{Fingerprint: job.fingerprint}
	rows, err := pr.reg.all(pr.global(ctx))
	if err != nil {
		return report, fmt.Errorf("kirayedar: migrate all: reading the registry: %w", err)
	}

	var todo []string
	var settled []Result // decided without touching a tenant
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
				settled = append(settled, pr.failure(row.ID, ErrTenantNotFound))
			}
		case !opts.Force && row.migratedTo() == job.fingerprint:
			settled = append(settled, Result{Tenant: row.ID, Status: UpToDate})
		default:
			todo = append(todo, row.ID)
		}
	}
	for t := range unseen {
		if err := pr.cfg.Validate(t); err != nil {
			settled = append(settled, pr.failure(t, err))
		} else {
			settled = append(settled, pr.failure(t, ErrTenantNotFound))
		}
	}

	total := len(settled) + len(todo)
	results := make([]Result, 0, total)
	record := func(r Result) {
		results = append(results, r)
		if opts.Progress != nil {
			opts.Progress(r, len(results), total)
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
		case Migrated:
			report.Migrated++
		case UpToDate:
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
func (pr *Provisioner) migrateEach(ctx context.Context, tenants []string, job migration, concurrency int) <-chan Result {
	concurrency = min(concurrency, max(len(tenants), 1))
	jobs := make(chan string)
	out := make(chan Result)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tenant := range jobs {
				if err := ctx.Err(); err != nil {
					// Never started, but a tenant of the run all the same:
					// it reports its one event, a failure.
					_, rec := pr.cfg.Telemetry.Begin(ctx, "migrate", tenant, "")
					res := pr.failure(tenant, err)
					rec.End(res.Err)
					out <- res
					continue
				}
				began := time.Now()
				status, err := pr.migrateTenant(ctx, tenant, job)
				out <- Result{Tenant: tenant, Status: status, Duration: time.Since(began), Err: err}
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
	case pr.cfg.Engine == dialect.SQLite:
		return 1
	}
	return 4
}

func (pr *Provisioner) failure(tenant string, err error) Result {
	return Result{Tenant: tenant, Status: Failed, Err: pr.cfg.OpError("migrate", tenant, err)}
}

// migrateLocked is one tenant's migration, run by a backend on db (a
// transaction or a pinned connection) with the tenant's lock held: it reads
// the tenant's registry row under the lock, skips a tenant at the target
// fingerprint, and otherwise migrates it and records the fingerprint. enter
// runs its function with the tenant's tables current on db.
func (pr *Provisioner) migrateLocked(db *gorm.DB, tenant string, job migration, enter func(db *gorm.DB, tenant string, fn func() error) error) (Status, error) {
	row, ok, err := pr.reg.row(db, tenant)
	switch {
	case err != nil:
		return Failed, err
	case !ok || row.Status != statusReady:
		return Failed, ErrTenantNotFound
	case !job.force && row.migratedTo() == job.fingerprint:
		return UpToDate, nil
	}
	err = enter(db, tenant, func() error { return pr.upgradeTenant(db, tenant, job) })
	if err != nil {
		return Failed, err
	}
	if err := pr.reg.migrated(db, tenant, job.fingerprint); err != nil {
		return Failed, err
	}
	return Migrated, nil
}

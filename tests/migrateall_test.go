package tests

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kirayedar/kirayedar"
)

// The next version of the tenant models: AuditLog gains a column with an
// index, and a new Note table appears. Tenants created with tenantModels are
// behind it.

// AuditLogV2 is AuditLog with an indexed Detail column.
type AuditLogV2 struct {
	ID uint
	Stamp
	Action string `gorm:"size:100;index:idx_audit_action"`
	Detail string `gorm:"size:50;index"`
}

func (AuditLogV2) TableName() string { return "audit_logs" }

// Note is a tenant table that only the next version has.
type Note struct {
	ID   uint
	Body string `gorm:"size:100;index"`
}

func tenantModelsV2() []any { return []any{&Post{}, &Invoice{}, &AuditLogV2{}, &Note{}} }

// newEnvV2 opens the target's database with the next version of the models.
func newEnvV2(t testing.TB, tg target) *env {
	return newEnv(t, tg, func(c *kirayedar.Config) { c.TenantModels = tenantModelsV2() })
}

// newTenants creates n tenants with e's models, dropped after the test.
func (e *env) newTenants(t testing.TB, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.newTenant(t)
	}
	sort.Strings(ids)
	return ids
}

// byStatus groups a report's tenants by status.
func byStatus(r kirayedar.Report) map[kirayedar.MigrateStatus][]string {
	m := map[kirayedar.MigrateStatus][]string{}
	for _, res := range r.Results {
		m[res.Status] = append(m[res.Status], res.Tenant)
	}
	return m
}

// noteView makes a view named like the next version's new table in a
// tenant, which AutoMigrate cannot create over; the returned func removes it.
func (e *env) noteView(t testing.TB, tenant string) func() {
	t.Helper()
	name := e.table(tenant, "notes")
	must(t, e.admin().Exec("CREATE VIEW "+name+" AS SELECT 1 AS one").Error)
	return func() { must(t, e.admin().Exec("DROP VIEW "+name).Error) }
}

// A deploy with new models migrates every tenant that is behind, skips those
// that are current with one registry query, continues past failing tenants
// and reports each; a rerun after the cause is removed migrates exactly the
// failed ones.
func TestMigrateAllContinuesPastFailuresAndRerunsOnlyThem(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.String(), func(t *testing.T) {
			v1, v2 := newEnv(t, tg, nil), newEnvV2(t, tg)
			ctx := context.Background()
			ids := v1.newTenants(t, 50)
			broken := []string{ids[3], ids[17], ids[41]}
			for _, id := range broken {
				t.Cleanup(func() { _ = v2.admin().Exec("DROP VIEW IF EXISTS " + v2.table(id, "notes")).Error })
			}
			unbreak := make([]func(), len(broken))
			for i, id := range broken {
				unbreak[i] = v2.noteView(t, id)
			}

			var progress []kirayedar.Progress
			report, err := v2.prov.MigrateAll(ctx, kirayedar.MigrateOptions{
				Tenants:  ids,
				Progress: func(p kirayedar.Progress) { progress = append(progress, p) },
			})
			got := byStatus(report)
			if len(got[kirayedar.StatusMigrated]) != 47 || strings.Join(got[kirayedar.StatusFailed], ",") != strings.Join(broken, ",") {
				t.Fatalf("first run: migrated %d, failed %v; want 47 migrated and %v failed (err %v)", len(got[kirayedar.StatusMigrated]), got[kirayedar.StatusFailed], broken, err)
			}
			if report.Migrated != 47 || report.Failed != 3 || report.UpToDate != 0 || report.Total() != 50 {
				t.Errorf("summary counts %d/%d/%d of %d", report.Migrated, report.UpToDate, report.Failed, report.Total())
			}
			if err == nil || !strings.Contains(err.Error(), "3 of 50") {
				t.Errorf("the run's error does not count the failures: %v", err)
			}
			var first *kirayedar.Error
			if !errors.As(err, &first) || first.Tenant != broken[0] || first.Op != "migrate" {
				t.Errorf("the run's error does not wrap the first failure: %#v", err)
			}
			for _, r := range report.Results {
				if r.Status == kirayedar.StatusFailed && (r.Err == nil || r.Duration <= 0) {
					t.Errorf("failed tenant %s has no error or no duration: %+v", r.Tenant, r)
				}
			}
			if len(progress) != 50 || progress[49].Done != 50 || progress[0].Total != 50 {
				t.Errorf("progress was reported %d times, want 50 ending at 50 of 50", len(progress))
			}
			// The migrated tenants have the new column and table.
			must(t, v2.db.WithContext(ctxFor(ids[0])).Create(&Note{Body: "hello"}).Error)
			must(t, v2.db.WithContext(ctxFor(ids[0])).Create(&AuditLogV2{Action: "a", Detail: "d"}).Error)

			for _, fix := range unbreak {
				fix()
			}
			report, err = v2.prov.MigrateAll(ctx, kirayedar.MigrateOptions{Tenants: ids})
			must(t, err)
			got = byStatus(report)
			if strings.Join(got[kirayedar.StatusMigrated], ",") != strings.Join(broken, ",") || len(got[kirayedar.StatusUpToDate]) != 47 {
				t.Errorf("rerun migrated %v (want %v) and found %d up to date (want 47)", got[kirayedar.StatusMigrated], broken, len(got[kirayedar.StatusUpToDate]))
			}
			for _, r := range report.Results {
				if r.Status == kirayedar.StatusUpToDate && r.Duration != 0 {
					t.Errorf("up-to-date tenant %s took %v: it was touched", r.Tenant, r.Duration)
				}
			}
			// A third run has nothing to do and sends one query.
			sent, _ := v2.sentDuring(func() {
				report, err = v2.prov.MigrateAll(ctx, kirayedar.MigrateOptions{Tenants: ids})
			})
			must(t, err)
			if report.UpToDate != 50 || sent != 1 {
				t.Errorf("a run with nothing to do: %d up to date, %d statements sent; want 50 and 1", report.UpToDate, sent)
			}
			// A replayed migration leaves the same tables as AutoMigrate.
			if tg.schemaPerTenant() {
				if diff := shapeDiff(v2.shape(t, broken[0]), v2.shape(t, ids[0])); len(diff) > 0 {
					t.Errorf("tenants migrated by the two runs differ:\n%s", strings.Join(diff, "\n"))
				}
			}
		})
	}
}

// Two deploys migrating the same tenants at once: each tenant is migrated by
// exactly one of them, the other finds it up to date, and neither deadlocks.
func TestConcurrentMigrateAllRunsMigrateEachTenantOnce(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.String(), func(t *testing.T) {
			v1 := newEnv(t, tg, nil)
			runs := []*env{newEnvV2(t, tg), newEnvV2(t, tg)} // two processes
			ids := v1.newTenants(t, 12)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()

			reports := make([]kirayedar.Report, len(runs))
			errs := make([]error, len(runs))
			var wg sync.WaitGroup
			for i, run := range runs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					reports[i], errs[i] = run.prov.MigrateAll(ctx, kirayedar.MigrateOptions{Tenants: ids, Concurrency: 3})
				}()
			}
			wg.Wait()
			migrated := map[string]int{}
			for i := range runs {
				must(t, errs[i])
				for _, r := range reports[i].Results {
					if r.Status == kirayedar.StatusMigrated {
						migrated[r.Tenant]++
					}
				}
			}
			for _, id := range ids {
				if migrated[id] != 1 {
					t.Errorf("tenant %s was migrated %d times, want once", id, migrated[id])
				}
			}
			if n := reports[0].Migrated + reports[1].Migrated; n != len(ids) {
				t.Errorf("the runs migrated %d tenants between them, want %d", n, len(ids))
			}
		})
	}
}

// Migrate of one tenant takes the same path: it skips a current tenant and
// migrates one that is behind; Force migrates regardless.
func TestMigrateSkipsCurrentTenants(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		id := e.newTenant(t)
		sent, _ := e.sentDuring(func() { must(t, e.prov.Migrate(ctx, id)) })
		if sent > 6 {
			t.Errorf("Migrate of a current tenant sent %d statements", sent)
		}
		v2 := newEnvV2(t, e.tg)
		must(t, v2.prov.Migrate(ctx, id))
		must(t, v2.db.WithContext(ctxFor(id)).Create(&Note{Body: "x"}).Error)
		infos, err := v2.prov.Tenants(ctx)
		must(t, err)
		for _, info := range infos {
			if info.ID == id && (!info.Current || info.Status != "ready" || info.MigratedAt == nil) {
				t.Errorf("after Migrate the registry says %+v", info)
			}
		}
		report, err := v2.prov.MigrateAll(ctx, kirayedar.MigrateOptions{Tenants: []string{id}, Force: true})
		must(t, err)
		if report.Migrated != 1 {
			t.Errorf("Force did not migrate a current tenant: %+v", report)
		}
		// Back on the old models, the tenant is behind them again.
		infos, err = e.prov.Tenants(ctx)
		must(t, err)
		for _, info := range infos {
			if info.ID == id && info.Current {
				t.Errorf("tenant %s is current for two different sets of models", id)
			}
		}
	})
}

// A run whose context ends stops: tenants not started are reported failed
// with the context's error, and a rerun finishes them without repeating the
// ones that completed.
func TestMigrateAllStopsWhenTheContextEnds(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ids := e.newTenants(t, 6)
		v2 := newEnvV2(t, e.tg)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		report, err := v2.prov.MigrateAll(ctx, kirayedar.MigrateOptions{
			Tenants:     ids,
			Concurrency: 1,
			Progress:    func(kirayedar.Progress) { cancel() }, // the deploy is interrupted after one tenant
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("a cancelled run returned %v, want context.Canceled", err)
		}
		// The worker may have taken the second tenant before the cancel.
		done := report.Migrated
		if done < 1 || done > 2 || report.Failed != len(ids)-done {
			t.Errorf("a run cancelled after one tenant migrated %d and failed %d of %d", done, report.Failed, len(ids))
		}
		report, err = v2.prov.MigrateAll(context.Background(), kirayedar.MigrateOptions{Tenants: ids})
		must(t, err)
		if report.Migrated != len(ids)-done || report.UpToDate != done {
			t.Errorf("the rerun migrated %d and skipped %d; want %d and %d", report.Migrated, report.UpToDate, len(ids)-done, done)
		}
	})
}

// MigrateAll over named tenants reports one that is not in the registry.
func TestMigrateAllReportsUnknownTenants(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		known, unknown := e.newTenant(t), e.tenantID()
		report, err := e.prov.MigrateAll(context.Background(), kirayedar.MigrateOptions{Tenants: []string{known, unknown}})
		if !errors.Is(err, kirayedar.ErrTenantNotFound) {
			t.Errorf("got %v, want ErrTenantNotFound", err)
		}
		got := byStatus(report)
		if fmt.Sprint(got[kirayedar.StatusFailed]) != fmt.Sprint([]string{unknown}) || fmt.Sprint(got[kirayedar.StatusUpToDate]) != fmt.Sprint([]string{known}) {
			t.Errorf("report %v", got)
		}
		// An invalid ID is reported as such, not as a missing tenant.
		report, err = e.prov.MigrateAll(context.Background(), kirayedar.MigrateOptions{Tenants: []string{"Bad-ID"}})
		if !errors.Is(err, kirayedar.ErrInvalidTenantID) || report.Failed != 1 {
			t.Errorf("an invalid named ID: %v, %+v", err, report.Results)
		}
	})
}

// MigrateAll over named tenants touches those and no other.
func TestMigrateAllMigratesOnlyTheNamedTenants(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		ids := e.newTenants(t, 3)
		v2 := newEnvV2(t, e.tg)
		report, err := v2.prov.MigrateAll(context.Background(), kirayedar.MigrateOptions{Tenants: ids[:1]})
		must(t, err)
		if report.Total() != 1 || report.Migrated != 1 || report.Results[0].Tenant != ids[0] {
			t.Errorf("a run over %s reported %+v", ids[0], report.Results)
		}
		infos, err := v2.prov.Tenants(context.Background())
		must(t, err)
		for _, info := range infos {
			if (info.ID == ids[1] || info.ID == ids[2]) && info.Current {
				t.Errorf("tenant %s was migrated though not named", info.ID)
			}
		}
	})
}

// Recorded migrations are replayed only into tenants whose tables are what
// the recording tenant's were. A tenant changed by hand (here, the one that
// migrates first, so it records) or missing a table migrates with
// AutoMigrate: every tenant ends up with the new models' tables, and no
// statement lands on the global copy of a tenant table.
func TestMigrationReplayNeedsTheSameStartingTables(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.String(), func(t *testing.T) {
			v1 := newEnv(t, tg, nil)
			ids := v1.newTenants(t, 5)
			// The first tenant migrated already has the new column and its
			// index, added by hand: AutoMigrate sends it only the new table.
			detail := "varchar(50)"
			if tg.engine == "sqlite" {
				detail = "text" // what GORM makes of it there
			}
			must(t, v1.admin().Exec("ALTER TABLE "+v1.table(ids[0], "audit_logs")+" ADD detail "+detail).Error)
			physical := "audit_logs"
			if tg.strategy == kirayedar.StrategyPrefix {
				physical = ids[0] + "_audit_logs"
			}
			must(t, v1.admin().Exec("CREATE INDEX idx_"+physical+"_detail ON "+v1.table(ids[0], "audit_logs")+" (detail)").Error)
			// Another has lost its audit_logs table.
			must(t, v1.admin().Exec("DROP TABLE "+v1.table(ids[2], "audit_logs")).Error)
			globalBefore := v1.shape(t, "")

			v2 := newEnvV2(t, tg)
			report, err := v2.prov.MigrateAll(context.Background(), kirayedar.MigrateOptions{Tenants: ids, Concurrency: 1})
			must(t, err)
			if report.Migrated != len(ids) {
				t.Fatalf("migrated %d of %d", report.Migrated, len(ids))
			}
			for _, id := range ids {
				db := v2.db.WithContext(ctxFor(id))
				if err := db.Create(&AuditLogV2{Action: "a", Detail: "d"}).Error; err != nil {
					t.Errorf("tenant %s lacks the new column: %v", id, err)
				}
				if err := db.Create(&Note{Body: "n"}).Error; err != nil {
					t.Errorf("tenant %s lacks the new table: %v", id, err)
				}
			}
			if tg.schemaPerTenant() {
				for _, id := range ids[2:] {
					if diff := shapeDiff(v2.shape(t, ids[1]), v2.shape(t, id)); len(diff) > 0 {
						t.Errorf("tenants %s and %s differ after the migration:\n%s", ids[1], id, strings.Join(diff, "\n"))
					}
				}
			}
			if diff := shapeDiff(globalBefore, v2.shape(t, "")); len(diff) > 0 {
				t.Errorf("the migration changed the global tables:\n%s", strings.Join(diff, "\n"))
			}
		})
	}
}

// A tenant whose schema was dropped by hand reads "missing" in Tenants, as
// Exists and List leave it out, and MigrateAll leaves it alone.
func TestTenantsReportsAMissingSchema(t *testing.T) {
	for _, tg := range targets {
		if tg.engine != "postgres" || !tg.schemaPerTenant() {
			continue
		}
		t.Run(tg.String(), func(t *testing.T) {
			e := newEnv(t, tg, nil)
			ctx := context.Background()
			id := e.newTenant(t)
			must(t, e.admin().Exec(e.plugin.Engine().DropSchema(id)).Error)
			infos, err := e.prov.Tenants(ctx)
			must(t, err)
			found := false
			for _, info := range infos {
				if info.ID == id {
					found = true
					if info.Status != "missing" || info.Current {
						t.Errorf("a tenant without its schema reads %+v", info)
					}
				}
			}
			if !found {
				t.Errorf("Tenants left out %s", id)
			}
			report, err := e.prov.MigrateAll(ctx, kirayedar.MigrateOptions{Tenants: []string{id}})
			if !errors.Is(err, kirayedar.ErrTenantNotFound) || report.Failed != 1 {
				t.Errorf("MigrateAll of a tenant without its schema: %v, %+v", err, report.Results)
			}
		})
	}
}

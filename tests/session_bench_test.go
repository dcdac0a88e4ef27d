package tests

import (
	"fmt"
	"testing"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar"
)

// BenchmarkSessionPKSelect measures a primary-key select under
// StrategySession against plain GORM, on a pool of 8:
//
//   - plain: no plugin, no connector.
//
//   - session-warm: every statement for one tenant, so the connection is set
//     for it already (the target: at most 1.05× plain).
//
//   - session-rr100: round-robin over 100 tenants, so every statement finds
//     its connection set for another tenant and switches first (target: at
//     most 2.2× plain).
//
//   - schema-warm, schema-rr100: the same under StrategySchema, which
//     qualifies names and never switches: the plugin's cost without the
//     connector's.
//
//   - setlocal-rr100 (PostgreSQL): the same round-robin as raw SQL through
//     plain GORM, each select in its own transaction that sets search_path
//     with set_config(..., true) first: the SET LOCAL alternative.
//
//     go test -run '^$' -bench BenchmarkSessionPKSelect -benchmem ./tests/
func BenchmarkSessionPKSelect(b *testing.B) {
	const tenants, rowsPerTenant = 100, 10
	for _, engine := range []string{"postgres", "mysql"} {
		b.Run("engine="+engine, func(b *testing.B) {
			plain := benchModes(b, engine, []string{"plain"})[0]

			session := newEnv(b, target{engine: engine, strategy: kirayedar.StrategySession}, benchConfig)
			warm := session.newTenant(b)
			warmDB := session.db.WithContext(ctxFor(warm))
			warmIDs := benchSeed(b, warmDB, warm)
			sessionRR := benchRRTenants(b, session, tenants, rowsPerTenant)

			schema := newEnv(b, target{engine: engine, strategy: kirayedar.StrategySchema}, benchConfig)
			schemaWarm := schema.newTenant(b)
			schemaWarmDB := schema.db.WithContext(ctxFor(schemaWarm))
			schemaWarmIDs := benchSeed(b, schemaWarmDB, schemaWarm)
			schemaRR := benchRRTenants(b, schema, tenants, rowsPerTenant)

			b.Run("mode=plain", func(b *testing.B) {
				benchLoop(b, func(i int) error {
					var row BenchRow
					return plain.db.First(&row, plain.ids[i%len(plain.ids)]).Error
				})
			})
			b.Run("mode=session-warm", func(b *testing.B) {
				benchLoop(b, func(i int) error {
					var row BenchRow
					return warmDB.First(&row, warmIDs[i%len(warmIDs)]).Error
				})
			})
			b.Run("mode=schema-warm", func(b *testing.B) {
				benchLoop(b, func(i int) error {
					var row BenchRow
					return schemaWarmDB.First(&row, schemaWarmIDs[i%len(schemaWarmIDs)]).Error
				})
			})
			for _, rr := range []struct {
				name string
				dbs  []*gorm.DB
			}{{"session-rr100", sessionRR}, {"schema-rr100", schemaRR}} {
				b.Run("mode="+rr.name, func(b *testing.B) {
					benchLoop(b, func(i int) error {
						var row BenchRow
						return rr.dbs[i%tenants].First(&row, 1+(i/tenants)%rowsPerTenant).Error
					})
				})
			}
			if engine != "postgres" {
				return
			}
			// Plain GORM on the schema target's database, where schemaRR's
			// tenants live.
			raw := benchOpenPlain(b, engine)
			paths := make([]string, tenants)
			for i, db := range schemaRR {
				tenant, _ := kirayedar.FromContext(db.Statement.Context)
				paths[i] = fmt.Sprintf(`"%s", "public"`, tenant)
			}
			b.Run("mode=setlocal-rr100", func(b *testing.B) {
				benchLoop(b, func(i int) error {
					return raw.Transaction(func(tx *gorm.DB) error {
						if err := tx.Exec("SELECT set_config('search_path', ?, true)", paths[i%tenants]).Error; err != nil {
							return err
						}
						var row BenchRow
						return tx.Raw("SELECT * FROM bench_rows WHERE id = ? LIMIT 1", 1+(i/tenants)%rowsPerTenant).Scan(&row).Error
					})
				})
			})
		})
	}
}

// benchRRTenants provisions n tenants on e, seeds each with rows bench rows,
// and returns a session for each.
func benchRRTenants(b *testing.B, e *env, n, rows int) []*gorm.DB {
	b.Helper()
	dbs := make([]*gorm.DB, n)
	for i := range dbs {
		tenant := e.newTenant(b)
		dbs[i] = e.db.WithContext(ctxFor(tenant))
		batch := make([]BenchRow, rows)
		for j := range batch {
			batch[j] = BenchRow{Tenant: tenant, Title: fmt.Sprintf("row %d", j)}
		}
		if err := dbs[i].Create(&batch).Error; err != nil {
			b.Fatalf("seeding %s: %v", tenant, err)
		}
	}
	return dbs
}

func benchLoop(b *testing.B, op func(i int) error) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := op(i); err != nil {
			b.Fatal(err)
		}
	}
}

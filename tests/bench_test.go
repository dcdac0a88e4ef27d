package tests

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/kirayedar/kirayedar"
	"github.com/kirayedar/kirayedar/telemetry"
)

// Benchmarks of the plugin's per-statement overhead against plain GORM.
//
//	go test -run '^$' -bench 'BenchmarkPKSelect|BenchmarkInsert|BenchmarkBuild' -benchmem ./tests/
//
// Sub-benchmarks are named key=value so that benchstat can compare modes:
//
//	benchstat -col /mode results.txt
//
// Modes:
//   - plain: a *gorm.DB on the same database and the same kind of pool
//     (the harness's counting connector), WITHOUT the plugin, on a table of
//     the same shape in the global schema.
//   - schema, prefix: a *gorm.DB with the plugin registered for that
//     strategy (newEnv), running every statement for a provisioned tenant.
//   - telemetry: the default strategy with Config.Telemetry given
//     OpenTelemetry SDK providers that have no exporter.
//
// Setup (opening pools, provisioning, seeding) happens once per engine in the
// engine-level sub-benchmark, which runs once per -count; the timed
// mode-level sub-benchmarks are plain serial loops.

// BenchRow is the table the round-trip benchmarks read and write.
type BenchRow struct {
	ID     uint
	Tenant string `gorm:"size:64"`
	Title  string `gorm:"size:200"`
	Views  int
}

// BenchAuthor is reached from BenchPost through a belongs-to, for the join
// benchmark; it is a tenant table discovered through the relation.
type BenchAuthor struct {
	ID   uint
	Name string `gorm:"size:100"`
}

// BenchPost is a tenant model with a relation, for the join benchmark.
type BenchPost struct {
	ID       uint
	Title    string `gorm:"size:200"`
	Views    int
	AuthorID *uint
	Author   *BenchAuthor
}

// benchConfig is the newEnv edit for the benchmarks: the bench models are
// the tenant models (BenchAuthor is discovered), Plan stays global.
func benchConfig(cfg *kirayedar.Config) {
	cfg.TenantModels = []any{&BenchRow{}, &BenchPost{}}
}

// benchEngines are the engines and the modes each runs; SQLite has no schema
// strategy.
var benchEngines = []struct {
	engine string
	modes  []string
}{
	{"postgres", []string{"plain", "schema", "prefix", "telemetry"}},
	{"mysql", []string{"plain", "schema", "prefix", "telemetry"}},
	{"sqlite", []string{"plain", "prefix", "telemetry"}},
}

const benchSeedRows = 1000

// benchMode is one mode's session, ready to run statements: the plugin's
// sessions carry the tenant's context.
type benchMode struct {
	name  string
	db    *gorm.DB
	label string // the Tenant column of the rows written in this mode
	ids   []uint // the seeded rows' primary keys
}

// benchPlainTarget is the target whose database plain mode shares.
func benchPlainTarget(engine string) target {
	if engine == "sqlite" {
		return target{engine: engine, strategy: kirayedar.StrategyPrefix}
	}
	return target{engine: engine, strategy: kirayedar.StrategySchema}
}

// benchOpenPlain opens the engine's database without the plugin, with the
// same pool and GORM settings as newEnv.
func benchOpenPlain(b *testing.B, engine string) *gorm.DB {
	b.Helper()
	d := databaseFor(b, benchPlainTarget(engine))
	dialector, sqlDB, err := d.open(new(counters))
	if err != nil {
		b.Fatalf("%s/plain: opening: %v", engine, err)
	}
	sqlDB.SetMaxOpenConns(8)
	if engine == "sqlite" {
		sqlDB.SetMaxOpenConns(4)
	}
	b.Cleanup(func() { _ = sqlDB.Close() })
	logLevel := logger.Silent
	if os.Getenv("KIRAYEDAR_TEST_LOG") != "" {
		logLevel = logger.Info
	}
	db, err := gorm.Open(dialector, &gorm.Config{Logger: logger.Default.LogMode(logLevel)})
	if err != nil {
		b.Fatalf("%s/plain: gorm.Open: %v", engine, err)
	}
	return db
}

// benchStrategy is a mode's strategy; telemetry runs the engine's default.
func benchStrategy(engine, mode string) kirayedar.Strategy {
	switch {
	case mode == "schema", mode == "telemetry" && engine != "sqlite":
		return kirayedar.StrategySchema
	}
	return kirayedar.StrategyPrefix
}

// benchSeed writes benchSeedRows rows through db and returns their keys.
func benchSeed(b *testing.B, db *gorm.DB, label string) []uint {
	b.Helper()
	rows := make([]BenchRow, benchSeedRows)
	for i := range rows {
		rows[i] = BenchRow{Tenant: label, Title: fmt.Sprintf("row %d", i), Views: i}
	}
	if err := db.CreateInBatches(&rows, 250).Error; err != nil {
		b.Fatalf("seeding %s: %v", label, err)
	}
	ids := make([]uint, len(rows))
	for i, r := range rows {
		if r.ID == 0 {
			b.Fatalf("seeding %s: row %d got no primary key", label, i)
		}
		ids[i] = r.ID
	}
	return ids
}

// benchModes sets up every mode of one engine: a fresh, seeded bench_rows
// table for plain mode, and a freshly provisioned, seeded tenant per
// strategy. Everything is dropped or closed by b's cleanups. It checks that
// each mode reads its own rows before anything is timed.
func benchModes(b *testing.B, engine string, modes []string) []benchMode {
	b.Helper()
	out := make([]benchMode, 0, len(modes))
	for _, mode := range modes {
		m := benchMode{name: mode}
		if mode == "plain" {
			plain := benchOpenPlain(b, engine)
			// A fresh table each time, like the fresh tenant the other modes get.
			if err := plain.Migrator().DropTable(&BenchRow{}); err != nil {
				b.Fatalf("%s/plain: dropping bench_rows: %v", engine, err)
			}
			if err := plain.AutoMigrate(&BenchRow{}); err != nil {
				b.Fatalf("%s/plain: migrating bench_rows: %v", engine, err)
			}
			m.label = "plain"
			m.db = plain.WithContext(context.Background())
		} else {
			e := newEnv(b, target{engine: engine, strategy: benchStrategy(engine, mode)}, func(cfg *kirayedar.Config) {
				benchConfig(cfg)
				if mode == "telemetry" {
					// SDK providers with no exporter or reader: telemetry
					// configured, nothing sent.
					cfg.Telemetry = telemetry.Options{TracerProvider: sdktrace.NewTracerProvider(), MeterProvider: sdkmetric.NewMeterProvider()}
				}
			})
			tenant := e.newTenant(b)
			m.label = tenant
			m.db = e.db.WithContext(ctxFor(tenant))
		}
		m.ids = benchSeed(b, m.db, m.label)
		var row BenchRow
		if err := m.db.First(&row, m.ids[len(m.ids)/2]).Error; err != nil {
			b.Fatalf("%s/%s: reading a seeded row: %v", engine, mode, err)
		}
		if row.Tenant != m.label {
			b.Fatalf("%s/%s: read a row of %q, want %q", engine, mode, row.Tenant, m.label)
		}
		out = append(out, m)
	}
	return out
}

// BenchmarkPKSelect measures db.First(&row, id) by primary key, one round
// trip, cycling over the seeded rows.
func BenchmarkPKSelect(b *testing.B) {
	for _, eng := range benchEngines {
		b.Run("engine="+eng.engine, func(b *testing.B) {
			modes := benchModes(b, eng.engine, eng.modes)
			for _, m := range modes {
				b.Run("mode="+m.name, func(b *testing.B) {
					db, ids := m.db, m.ids
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						var row BenchRow
						if err := db.First(&row, ids[i%len(ids)]).Error; err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkRawPKSelect measures a hand-written SELECT by primary key,
// db.Raw("SELECT * FROM bench_rows WHERE id = ?", id).Scan(&row): as plain
// GORM sends it, and under a tenant on the schema strategy, which rewrites
// bench_rows to the tenant's table as the text is sent.
func BenchmarkRawPKSelect(b *testing.B) {
	for _, engine := range []string{"postgres", "mysql"} {
		b.Run("engine="+engine, func(b *testing.B) {
			for _, m := range benchModes(b, engine, []string{"plain", "schema"}) {
				b.Run("mode="+m.name, func(b *testing.B) {
					db, ids := m.db, m.ids
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						var row BenchRow
						if err := db.Raw("SELECT * FROM bench_rows WHERE id = ?", ids[i%len(ids)]).Scan(&row).Error; err != nil || row.Tenant != m.label {
							b.Fatalf("%s: read %+v: %v", m.name, row, err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkInsert measures db.Create of one row, with GORM's default
// transaction ON (SkipDefaultTransaction false, as users have it): BEGIN,
// INSERT, COMMIT per operation, so the timing includes the commit.
func BenchmarkInsert(b *testing.B) {
	for _, eng := range benchEngines {
		b.Run("engine="+eng.engine, func(b *testing.B) {
			modes := benchModes(b, eng.engine, eng.modes)
			for _, m := range modes {
				b.Run("mode="+m.name, func(b *testing.B) {
					db, label := m.db, m.label
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						row := BenchRow{Tenant: label, Title: "inserted", Views: i}
						if err := db.Create(&row).Error; err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// benchBuildOps are the statements BenchmarkBuild builds. Each returns the
// finished *gorm.DB so setup can check the SQL it built.
var benchBuildOps = []struct {
	name string
	run  func(db *gorm.DB, i int) *gorm.DB
}{
	{"first", func(db *gorm.DB, i int) *gorm.DB {
		var row BenchRow
		return db.First(&row, uint(i%benchSeedRows+1))
	}},
	{"find_join", func(db *gorm.DB, i int) *gorm.DB {
		var posts []BenchPost
		return db.Joins("Author").Where("bench_posts.views > ?", i).Find(&posts)
	}},
	{"create", func(db *gorm.DB, i int) *gorm.DB {
		return db.Create(&BenchRow{Tenant: "t", Title: "built", Views: i})
	}},
	{"update", func(db *gorm.DB, i int) *gorm.DB {
		return db.Model(&BenchRow{ID: uint(i%benchSeedRows + 1)}).Update("views", i)
	}},
}

// BenchmarkBuild measures building the SQL only: DryRun sessions on the
// PostgreSQL dialector (a real connection is opened, nothing is sent). The
// default transaction is skipped, since Begin would reach the server even
// under DryRun. The difference between the modes is the plugin's CPU and
// allocation cost per statement, free of network noise.
func BenchmarkBuild(b *testing.B) {
	const engine = "postgres"
	type dryMode struct {
		name string
		db   *gorm.DB
		want string // what the built SQL must name
	}
	var modes []dryMode
	dry := func(db *gorm.DB, ctx context.Context) *gorm.DB {
		return db.Session(&gorm.Session{DryRun: true, SkipDefaultTransaction: true, Context: ctx})
	}
	plain := benchOpenPlain(b, engine)
	modes = append(modes, dryMode{"plain", dry(plain, context.Background()), `"bench_`})
	for _, mode := range []string{"schema", "prefix"} {
		e := newEnv(b, target{engine: engine, strategy: benchStrategy(engine, mode)}, benchConfig)
		tenant := e.tenantID() // DryRun: never provisioned, nothing is sent
		want := `"` + tenant + `"."bench_`
		if mode == "prefix" {
			want = `"` + tenant + `_bench_`
		}
		modes = append(modes, dryMode{mode, dry(e.db, ctxFor(tenant)), want})
	}
	for _, op := range benchBuildOps {
		for _, m := range modes {
			tx := op.run(m.db, 1)
			sql := tx.Statement.SQL.String()
			if tx.Error != nil {
				b.Fatalf("op=%s/mode=%s: %v", op.name, m.name, tx.Error)
			}
			wantRefs := 1
			if op.name == "find_join" {
				wantRefs = 2 // the joined table is routed too
			}
			if strings.Count(sql, m.want) < wantRefs || (m.name == "plain" && strings.Contains(sql, "t"+runID)) {
				b.Fatalf("op=%s/mode=%s: built %s, want it to name %s", op.name, m.name, sql, m.want)
			}
		}
	}
	for _, op := range benchBuildOps {
		b.Run("op="+op.name, func(b *testing.B) {
			for _, m := range modes {
				b.Run("mode="+m.name, func(b *testing.B) {
					db, run := m.db, op.run
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if err := run(db, i).Error; err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkBuildPaired measures the plugin's CPU cost per statement the way
// this noisy two-core machine allows: the plain, schema and prefix builds of
// each statement run in alternating chunks, in rotating order, and the
// reported overhead is the median of the per-round ratios, so drift in the
// machine's speed hits every mode alike. It reports, per statement,
// schema-% and prefix-%: the median overhead over plain GORM.
//
//	go test -run '^$' -bench BenchmarkBuildPaired -benchtime 1x ./tests/
func BenchmarkBuildPaired(b *testing.B) {
	const engine = "postgres"
	dry := func(db *gorm.DB, ctx context.Context) *gorm.DB {
		return db.Session(&gorm.Session{DryRun: true, SkipDefaultTransaction: true, Context: ctx})
	}
	names := []string{"plain", "schema", "prefix"}
	dbs := []*gorm.DB{dry(benchOpenPlain(b, engine), context.Background())}
	for _, mode := range names[1:] {
		e := newEnv(b, target{engine: engine, strategy: benchStrategy(engine, mode)}, benchConfig)
		dbs = append(dbs, dry(e.db, ctxFor(e.tenantID())))
	}
	median := func(xs []float64) float64 {
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		return s[len(s)/2]
	}
	const rounds, chunk = 300, 1000
	for _, op := range benchBuildOps {
		b.Run("op="+op.name, func(b *testing.B) {
			for n := 0; n < b.N; n++ {
				per := make([][]float64, len(dbs))
				for r := 0; r < rounds; r++ {
					for k := range dbs {
						m := (k + r) % len(dbs)
						start := time.Now()
						for i := 0; i < chunk; i++ {
							if err := op.run(dbs[m], i).Error; err != nil {
								b.Fatal(err)
							}
						}
						per[m] = append(per[m], float64(time.Since(start).Nanoseconds())/chunk)
					}
				}
				b.ReportMetric(median(per[0]), "plain-ns/op")
				for m := 1; m < len(dbs); m++ {
					ratios := make([]float64, rounds)
					for r := range ratios {
						ratios[r] = per[m][r] / per[0][r]
					}
					b.ReportMetric((median(ratios)-1)*100, names[m]+"-%")
				}
			}
		})
	}
}

// BenchmarkTenantTransaction measures a primary-key select in its own
// transaction, on PostgreSQL: plain GORM's db.Transaction, and
// kirayedar.Transaction under the schema strategy, which adds the
// transaction-local set_config of search_path (one round trip) that makes
// raw SQL inside resolve to the tenant, PgBouncer-safe.
func BenchmarkTenantTransaction(b *testing.B) {
	const engine = "postgres"
	modes := benchModes(b, engine, []string{"plain", "schema"})
	for _, m := range modes {
		b.Run("mode="+m.name, func(b *testing.B) {
			db, ids := m.db, m.ids
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := ids[i%len(ids)]
				read := func(tx *gorm.DB) error {
					var row BenchRow
					return tx.First(&row, id).Error
				}
				var err error
				if m.name == "plain" {
					err = db.Transaction(read)
				} else {
					err = kirayedar.Transaction(db.Statement.Context, db, m.label, read)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

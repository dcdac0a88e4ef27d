package tests

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/kirayedar/kirayedar"
)

// Benchmarks of provisioning at scale (see bench/provision.sh):
//
//   - BenchmarkCreate: Create of a 10-model tenant (indexes, a unique index,
//     foreign keys, a many2many): replayed DDL, Create with AutoMigrate
//     (DisableDDLReplay), and plain GORM (CREATE SCHEMA or DATABASE and
//     AutoMigrate into it, no plugin). Reports p50-ms.
//   - BenchmarkMigrateAllNothingToDo: MigrateAll over KIRAYEDAR_BENCH_TENANTS
//     (default 1000) current tenants.
//   - BenchmarkMigrateAllAdditive: MigrateAll of a new column and index over
//     KIRAYEDAR_BENCH_TENANTS tenants, per concurrency, replayed and with
//     AutoMigrate. One iteration each: run with -benchtime 1x.

// The 10 models of the provisioning benchmarks (11 tables with the join
// table).
type (
	PCustomer struct {
		ID        uint
		Email     string `gorm:"size:200;uniqueIndex"`
		Name      string `gorm:"size:100;index"`
		CreatedAt time.Time
		Addresses []PAddress `gorm:"foreignKey:CustomerID"`
	}
	PAddress struct {
		ID         uint
		CustomerID uint
		Customer   *PCustomer
		Line       string `gorm:"size:200"`
		City       string `gorm:"size:100;index"`
	}
	PCategory struct {
		ID   uint
		Name string `gorm:"size:100;uniqueIndex"`
	}
	PProduct struct {
		ID         uint
		SKU        string      `gorm:"size:40;uniqueIndex"`
		Name       string      `gorm:"size:200;index"`
		Price      int64       `gorm:"not null;default:0"`
		Categories []PCategory `gorm:"many2many:p_product_categories"`
	}
	POrder struct {
		ID         uint
		CustomerID uint `gorm:"index"`
		Customer   *PCustomer
		Status     string `gorm:"size:20;index;default:'new'"`
		CreatedAt  time.Time
		DeletedAt  gorm.DeletedAt `gorm:"index"`
	}
	POrderItem struct {
		ID        uint
		OrderID   uint `gorm:"index"`
		Order     *POrder
		ProductID uint `gorm:"index"`
		Product   *PProduct
		Quantity  int `gorm:"not null"`
	}
	PInvoice struct {
		ID      uint
		OrderID uint `gorm:"uniqueIndex"`
		Order   *POrder
		Total   int64
	}
	PPayment struct {
		ID        uint
		InvoiceID uint `gorm:"index"`
		Invoice   *PInvoice
		Amount    int64
		Method    string `gorm:"size:20"`
	}
	PShipment struct {
		ID      uint
		OrderID uint `gorm:"index"`
		Order   *POrder
		Carrier string `gorm:"size:50"`
		Sent    *time.Time
	}
	PNote struct {
		ID   uint
		Body string `gorm:"type:text"`
	}
	// PNoteV2 is PNote after an additive change: a column and its index.
	PNoteV2 struct {
		ID       uint
		Body     string `gorm:"type:text"`
		Priority int    `gorm:"not null;default:0;index"`
	}
)

func (PNoteV2) TableName() string { return "p_notes" }

func provisionModels() []any {
	return []any{&PCustomer{}, &PAddress{}, &PCategory{}, &PProduct{}, &POrder{}, &POrderItem{}, &PInvoice{}, &PPayment{}, &PShipment{}, &PNote{}}
}

func provisionModelsV2() []any {
	return append(provisionModels()[:9:9], &PNoteV2{})
}

func benchTenants() int {
	if n, err := strconv.Atoi(os.Getenv("KIRAYEDAR_BENCH_TENANTS")); err == nil && n > 0 {
		return n
	}
	return 1000
}

var schemaTargets = []target{{engine: "postgres", strategy: kirayedar.StrategySchema}, {engine: "mysql", strategy: kirayedar.StrategySchema}}

func withModels(models []any) func(*kirayedar.Config) {
	return func(c *kirayedar.Config) { c.TenantModels = models; c.GlobalModels = nil }
}

// reportPercentiles reports the median and 90th percentile of durations.
func reportPercentiles(b *testing.B, durations []time.Duration) {
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(durations[len(durations)/2]), "p50-ms")
	b.ReportMetric(ms(durations[len(durations)*9/10]), "p90-ms")
}

func BenchmarkCreate(b *testing.B) {
	rounds := []int{0}
	if n := benchExisting(); n > 0 {
		rounds = append(rounds, n)
	}
	for _, tg := range schemaTargets {
		for _, existing := range rounds {
			b.Run(fmt.Sprintf("engine=%s/existing=%d", tg.engine, existing), func(b *testing.B) {
				benchmarkCreate(b, tg, existing)
			})
		}
	}
}

// benchExisting is how many tenants the database holds in the second round
// of BenchmarkCreate, as a live deployment's would: AutoMigrate's catalog
// queries search them. Set KIRAYEDAR_BENCH_EXISTING; 0 skips that round.
func benchExisting() int {
	n, _ := strconv.Atoi(os.Getenv("KIRAYEDAR_BENCH_EXISTING"))
	return n
}

func benchmarkCreate(b *testing.B, tg target, existing int) {
	e, _ := provisionedEnv(b, tg, max(existing, 1)) // the first Create records the DDL
	ctx := context.Background()
	plain := plainDB(b, e)
	// On this machine PostgreSQL runs DDL about three times slower once a
	// database has created (or dropped) relations since the last checkpoint
	// (seen with psql alone), so each timed Create starts after one, as in a
	// live database whose checkpoints outpace its sign-ups; and on MariaDB
	// after the same statement, for the same conditions.
	checkpoint := func() {
		stmt := "CHECKPOINT"
		if tg.engine == "mysql" {
			stmt = "FLUSH TABLES"
		}
		if err := e.admin().Exec(stmt).Error; err != nil {
			b.Fatal(err)
		}
	}
	modes := []struct {
		name   string
		create func(id string) error
		drop   func(id string) error
	}{
		{"replay", func(id string) error { return e.prov.Create(ctx, id) }, func(id string) error { return e.prov.Drop(ctx, id) }},
		{"automigrate", func(id string) error {
			e.prov.DisableDDLReplay = true
			defer func() { e.prov.DisableDDLReplay = false }()
			return e.prov.Create(ctx, id)
		}, func(id string) error { return e.prov.Drop(ctx, id) }},
		{"plain", func(id string) error { return plainCreate(plain, tg.engine, id) }, func(id string) error {
			return plain.Exec(e.plugin.Engine().DropSchema(id)).Error
		}},
	}
	for _, m := range modes {
		b.Run("mode="+m.name, func(b *testing.B) {
			durations := make([]time.Duration, 0, b.N)
			for range b.N {
				id := e.tenantID()
				b.StopTimer()
				checkpoint()
				b.StartTimer()
				start := time.Now()
				if err := m.create(id); err != nil {
					b.Fatal(err)
				}
				durations = append(durations, time.Since(start))
				b.StopTimer()
				if err := m.drop(id); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			reportPercentiles(b, durations)
		})
	}
}

// plainDB opens e's database with plain GORM, no plugin.
func plainDB(b *testing.B, e *env) *gorm.DB {
	dialector, sqlDB, err := e.d.open(new(counters))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sqlDB.Close() })
	db, err := gorm.Open(dialector, &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// plainCreate is what an application without Kirayedar would do: create the
// schema (database) and AutoMigrate the models into it.
func plainCreate(db *gorm.DB, engine, id string) error {
	if engine == "postgres" {
		return db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec(`CREATE SCHEMA "` + id + `"`).Error; err != nil {
				return err
			}
			if err := tx.Exec(`SET LOCAL search_path TO "` + id + `"`).Error; err != nil {
				return err
			}
			return tx.AutoMigrate(provisionModels()...)
		})
	}
	return db.Connection(func(conn *gorm.DB) error {
		var current string
		if err := conn.Raw("SELECT DATABASE()").Scan(&current).Error; err != nil {
			return err
		}
		if err := conn.Exec("CREATE DATABASE `" + id + "`").Error; err != nil {
			return err
		}
		if err := conn.Exec("USE `" + id + "`").Error; err != nil {
			return err
		}
		defer conn.Exec("USE `" + current + "`")
		return conn.AutoMigrate(provisionModels()...)
	})
}

// provisionedEnv opens a database of its own with n tenants of the
// provisioning models.
func provisionedEnv(b *testing.B, tg target, n int) (*env, []string) {
	e := newBareEnvWith(b, tg, withModels(provisionModels()))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.tenantID()
		if err := e.prov.Create(context.Background(), ids[i]); err != nil {
			b.Fatal(err)
		}
	}
	return e, ids
}

func BenchmarkMigrateAllNothingToDo(b *testing.B) {
	for _, tg := range schemaTargets {
		b.Run("engine="+tg.engine, func(b *testing.B) {
			n := benchTenants()
			e, _ := provisionedEnv(b, tg, n)
			b.ResetTimer()
			for range b.N {
				report, err := e.prov.MigrateAll(context.Background(), kirayedar.MigrateOptions{})
				if err != nil || report.UpToDate != n {
					b.Fatalf("%d up to date of %d: %v", report.UpToDate, n, err)
				}
			}
		})
	}
}

func BenchmarkMigrateAllAdditive(b *testing.B) {
	tg := target{engine: "postgres", strategy: kirayedar.StrategySchema}
	if engine := os.Getenv("KIRAYEDAR_BENCH_ENGINE"); engine != "" {
		tg.engine = engine
	}
	// AutoMigrate's catalog queries grow with the catalog, so its run over
	// every tenant grows with their square: it is measured over fewer.
	automigrated := 100
	if n, err := strconv.Atoi(os.Getenv("KIRAYEDAR_BENCH_AUTOMIGRATE_TENANTS")); err == nil && n > 0 {
		automigrated = n
	}
	runs := []struct {
		replay      bool
		tenants     int
		concurrency []int
	}{
		{true, benchTenants(), []int{1, 2, 4, 8}},
		{false, min(automigrated, benchTenants()), []int{1, 2}},
	}
	for _, run := range runs {
		for _, concurrency := range run.concurrency {
			name := fmt.Sprintf("engine=%s/replay=%v/tenants=%d/concurrency=%d", tg.engine, run.replay, run.tenants, concurrency)
			b.Run(name, func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					v1, _ := provisionedEnv(b, tg, run.tenants)
					v2 := openBareEnv(b, v1.d, withModels(provisionModelsV2()))
					v2.prov.DisableDDLReplay = !run.replay
					b.StartTimer()
					report, err := v2.prov.MigrateAll(context.Background(), kirayedar.MigrateOptions{Concurrency: concurrency})
					if err != nil || report.Migrated != run.tenants {
						b.Fatalf("migrated %d of %d: %v", report.Migrated, run.tenants, err)
					}
					b.ReportMetric(float64(report.Duration.Milliseconds())/float64(run.tenants), "ms/tenant")
				}
			})
		}
	}
}

package tests

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/kirayedar/kirayedar"
)

// A target is one engine run with one strategy. Every behaviour test runs on
// every target; adding an engine or a strategy is one line here.
type target struct {
	engine   string // "postgres", "mysql" (MariaDB) or "sqlite"
	strategy kirayedar.Strategy
	// via names a connection pooler the target's pool goes through:
	// "pgbouncer" (transaction pooling) or "" for a direct connection.
	via string
	// prepared turns on GORM's prepared-statement cache
	// (gorm.Config.PrepareStmt), as many applications do.
	prepared bool
}

// schemaPerTenant reports whether each tenant has a schema or database of
// its own.
func (tg target) schemaPerTenant() bool {
	return tg.strategy == kirayedar.StrategySchema || tg.strategy == kirayedar.StrategySession
}

// onSession opens the pool on kirayedar.NewConnector under StrategySession.
func (tg target) onSession(c driver.Connector, global string) (driver.Connector, error) {
	if tg.strategy != kirayedar.StrategySession {
		return c, nil
	}
	return kirayedar.NewConnector(c, kirayedar.ConnectorOptions{GlobalSchema: global})
}

func (tg target) String() string {
	name := tg.engine
	if tg.via != "" {
		name += "+" + tg.via
	}
	if tg.prepared {
		name += "+prepared"
	}
	return name + "/" + tg.strategy.String()
}

var targets = []target{
	{engine: "postgres", strategy: kirayedar.StrategySchema},
	{engine: "mysql", strategy: kirayedar.StrategySchema},
	{engine: "postgres", strategy: kirayedar.StrategyPrefix},
	{engine: "mysql", strategy: kirayedar.StrategyPrefix},
	{engine: "sqlite", strategy: kirayedar.StrategyPrefix},
	{engine: "postgres", strategy: kirayedar.StrategySession},
	{engine: "mysql", strategy: kirayedar.StrategySession},
	{engine: "postgres", strategy: kirayedar.StrategySchema, via: "pgbouncer"},
	{engine: "postgres", strategy: kirayedar.StrategyPrefix, via: "pgbouncer"},
	{engine: "postgres", strategy: kirayedar.StrategySchema, prepared: true},
	{engine: "mysql", strategy: kirayedar.StrategySchema, prepared: true},
	{engine: "sqlite", strategy: kirayedar.StrategyPrefix, prepared: true},
}

// prefixSeparator joins tenant and table under StrategyPrefix: the
// default of kirayedar.Config.PrefixSeparator, which the tests keep.
const prefixSeparator = "__"

const (
	defaultPostgresDSN = "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable"
	defaultMySQLDSN    = "root@tcp(127.0.0.1:3306)/test?parseTime=true"
)

// runID keeps this run's databases and tenants apart from any other run's on
// the same servers.
var runID = randomID(6)

var tenantSeq atomic.Int64

func randomID(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	b[0] = letters[int(b[0])%26] // start with a letter
	return string(b)
}

func TestMain(m *testing.M) {
	code := m.Run()
	dropRunDatabases()
	os.Exit(code)
}

// database is one target's own database for this run: PostgreSQL and MariaDB
// databases created for the run and dropped after it, or an SQLite file.
type database struct {
	tg     target
	name   string
	global string // the schema or database holding global tables
	open   func(sent *counters) (gorm.Dialector, *sql.DB, error)
	err    error
}

var (
	databasesMu sync.Mutex
	databases   = map[target]*database{}
	cleanups    []func()
)

func databaseFor(t testing.TB, tg target) *database {
	t.Helper()
	databasesMu.Lock()
	defer databasesMu.Unlock()
	if tg.via == "pgbouncer" && pgbouncerDSN() == "" {
		t.Skip("KIRAYEDAR_PGBOUNCER_DSN is not set (scripts/test.sh sets it up)")
	}
	d, ok := databases[tg]
	if !ok {
		d = &database{tg: tg, name: "kt" + runID + strings.ReplaceAll(tg.strategy.String(), "default", "") + map[string]string{"pgbouncer": "pgb"}[tg.via] + map[bool]string{true: "ps"}[tg.prepared]}
		d.err = d.setUp()
		databases[tg] = d
	}
	if d.err != nil {
		t.Fatalf("%s: the test database is unreachable (start the servers with scripts/test.sh): %v", tg, d.err)
	}
	return d
}

func (d *database) setUp() error {
	switch d.tg.engine {
	case "postgres":
		dsn := envOr("KIRAYEDAR_POSTGRES_DSN", defaultPostgresDSN)
		if err := createDatabase("pgx", dsn, d.name); err != nil {
			return err
		}
		cleanups = append(cleanups, func() {
			if a, err := sql.Open("pgx", dsn); err == nil {
				_, _ = a.Exec("DROP DATABASE IF EXISTS " + d.name + " WITH (FORCE)")
				_ = a.Close()
			}
		})
		poolDSN := dsn
		if d.tg.via == "pgbouncer" {
			// PgBouncer 1.18 in transaction pooling keeps no named
			// prepared statements from one transaction to the next.
			poolDSN = pgbouncerDSN() + " default_query_exec_mode=exec"
		}
		cfg, err := pgx.ParseConfig(poolDSN)
		if err != nil {
			return err
		}
		cfg.Database = d.name
		d.global = "public"
		d.open = func(sent *counters) (gorm.Dialector, *sql.DB, error) {
			connector, err := d.tg.onSession(countingConnector{Connector: stdlib.GetConnector(*cfg), sent: sent}, d.global)
			if err != nil {
				return nil, nil, err
			}
			sqlDB := sql.OpenDB(connector)
			return postgres.New(postgres.Config{Conn: sqlDB}), sqlDB, nil
		}
	case "mysql":
		dsn := envOr("KIRAYEDAR_MYSQL_DSN", defaultMySQLDSN)
		if err := createDatabase("mysql", dsn, d.name); err != nil {
			return err
		}
		cleanups = append(cleanups, func() { dropMySQLRunDatabases(dsn) })
		cfg, err := gomysql.ParseDSN(dsn)
		if err != nil {
			return err
		}
		cfg.DBName = d.name
		cfg.ParseTime = true
		d.global = d.name
		d.open = func(sent *counters) (gorm.Dialector, *sql.DB, error) {
			connector, err := gomysql.NewConnector(cfg)
			if err != nil {
				return nil, nil, err
			}
			wrapped, err := d.tg.onSession(countingConnector{Connector: connector, sent: sent}, d.global)
			if err != nil {
				return nil, nil, err
			}
			sqlDB := sql.OpenDB(wrapped)
			return mysql.New(mysql.Config{Conn: sqlDB, SkipInitializeWithVersion: false}), sqlDB, nil
		}
	case "sqlite":
		dir, err := os.MkdirTemp("", "kirayedar-test-")
		if err != nil {
			return err
		}
		cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
		dsn := "file:" + filepath.Join(dir, d.name+".db") +
			"?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
		d.global = "main"
		d.open = func(sent *counters) (gorm.Dialector, *sql.DB, error) {
			probe, err := sql.Open(sqlite.DriverName, dsn)
			if err != nil {
				return nil, nil, err
			}
			drv := probe.Driver()
			_ = probe.Close()
			var connector driver.Connector = dsnConnector{dsn: dsn, drv: drv}
			if dc, ok := drv.(driver.DriverContext); ok {
				if connector, err = dc.OpenConnector(dsn); err != nil {
					return nil, nil, err
				}
			}
			sqlDB := sql.OpenDB(countingConnector{Connector: connector, sent: sent})
			return &sqlite.Dialector{Conn: sqlDB}, sqlDB, nil
		}
	default:
		return fmt.Errorf("unknown engine %q", d.tg.engine)
	}
	return nil
}

// createDatabase creates a database of this run's on the server dsn names.
func createDatabase(driverName, dsn, name string) error {
	admin, err := sql.Open(driverName, dsn)
	if err != nil {
		return err
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = admin.ExecContext(ctx, "CREATE DATABASE "+name)
	return err
}

func dropMySQLRunDatabases(dsn string) {
	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		return
	}
	defer admin.Close()
	rows, err := admin.Query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ? OR SCHEMA_NAME LIKE ?",
		"kt"+runID+"%", "t"+runID+"%")
	if err != nil {
		return
	}
	var names []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			names = append(names, n)
		}
	}
	_ = rows.Close()
	for _, n := range names {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS `" + n + "`")
	}
}

var dropOnce sync.Once

func dropRunDatabases() {
	dropOnce.Do(func() {
		for _, c := range cleanups {
			c()
		}
	})
}

// pgbouncerDSN is PgBouncer's DSN in front of the test PostgreSQL, or "" when
// there is none.
func pgbouncerDSN() string {
	if dsn := os.Getenv("KIRAYEDAR_PGBOUNCER_DSN"); dsn != "off" {
		return dsn
	}
	return ""
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// env is one test's view of a target: a *gorm.DB with the plugin registered,
// its provisioner, and a count of the statements its pool sent.
type env struct {
	tg     target
	db     *gorm.DB
	sqlDB  *sql.DB
	prov   *kirayedar.Provisioner
	plugin *kirayedar.Plugin
	global string
	sent   *counters
	d      *database
}

// forEachTarget runs fn as a subtest on every target.
func forEachTarget(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, tg := range targets {
		t.Run(tg.String(), func(t *testing.T) { fn(t, newEnv(t, tg, nil)) })
	}
}

// newEnv opens the target's database with the test models, or with the
// configuration edit makes.
func newEnv(t testing.TB, tg target, edit func(*kirayedar.Config)) *env {
	t.Helper()
	return newEnvWith(t, tg, edit, nil)
}

// newEnvWith is newEnv with a hook that runs on the DB right after the
// plugin is registered, before the provisioner exists.
func newEnvWith(t testing.TB, tg target, edit func(*kirayedar.Config), afterUse func(*gorm.DB) error) *env {
	t.Helper()
	d := databaseFor(t, tg)
	cfg := kirayedar.Config{TenantModels: tenantModels(), GlobalModels: globalModels(), Strategy: tg.strategy}
	if edit != nil {
		edit(&cfg)
	}
	e := &env{tg: tg, d: d, global: d.global, sent: new(counters)}
	dialector, sqlDB, err := d.open(e.sent)
	if err != nil {
		t.Fatalf("%s: opening: %v", tg, err)
	}
	e.sqlDB = sqlDB
	sqlDB.SetMaxOpenConns(8)
	if tg.engine == "sqlite" {
		sqlDB.SetMaxOpenConns(4)
	}
	if tg.prepared {
		// GORM's prepared-statement cache can hang for good when more
		// goroutines use the pool than it has connections
		// (go-gorm/gorm#7465; README, "PrepareStmt"): keep the pool above
		// the most goroutines a test runs at once, as the README advises.
		sqlDB.SetMaxOpenConns(64)
	}
	t.Cleanup(func() { _ = sqlDB.Close() })
	logLevel := logger.Silent
	if os.Getenv("KIRAYEDAR_TEST_LOG") != "" {
		logLevel = logger.Info
	}
	e.db, err = gorm.Open(dialector, &gorm.Config{Logger: logger.Default.LogMode(logLevel), PrepareStmt: tg.prepared})
	if err != nil {
		t.Fatalf("%s: gorm.Open: %v", tg, err)
	}
	e.plugin = kirayedar.New(cfg)
	if err := e.db.Use(e.plugin); err != nil {
		t.Fatalf("%s: registering the plugin: %v", tg, err)
	}
	if afterUse != nil {
		if err := afterUse(e.db); err != nil {
			t.Fatalf("%s: %v", tg, err)
		}
	}
	if e.prov, err = kirayedar.NewProvisioner(e.db); err != nil {
		t.Fatalf("%s: NewProvisioner: %v", tg, err)
	}
	e.ensureGlobalTables(t)
	return e
}

var globalTablesDone sync.Map // target → true

// ensureGlobalTables creates, once per run and target, the global Plan table
// and a global copy of every tenant table with one sentinel post, so tests
// can prove that tenant statements never touch them.
func (e *env) ensureGlobalTables(t testing.TB) {
	t.Helper()
	if _, done := globalTablesDone.Load(e.tg); done {
		return
	}
	ctx := kirayedar.GlobalContext(context.Background())
	if err := e.db.AutoMigrate(globalModels()...); err != nil {
		t.Fatalf("%s: migrating global models: %v", e.tg, err)
	}
	if err := e.db.WithContext(ctx).AutoMigrate(everyTenantModel()...); err != nil {
		t.Fatalf("%s: migrating the global copies: %v", e.tg, err)
	}
	if err := e.db.Create(&[]Plan{{Name: "free"}, {Name: "pro"}}).Error; err != nil {
		t.Fatalf("%s: seeding plans: %v", e.tg, err)
	}
	if err := e.db.WithContext(ctx).Create(&Post{Tenant: "global", Title: "sentinel"}).Error; err != nil {
		t.Fatalf("%s: seeding the global copy: %v", e.tg, err)
	}
	globalTablesDone.Store(e.tg, true)
}

// newTenant provisions a fresh tenant for this test and drops it afterwards.
func (e *env) newTenant(t testing.TB) string {
	t.Helper()
	id := e.tenantID()
	if err := e.prov.Create(context.Background(), id); err != nil {
		t.Fatalf("%s: creating tenant %s: %v", e.tg, id, err)
	}
	t.Cleanup(func() { _ = e.prov.Drop(context.Background(), id) })
	return id
}

// tenantID returns a tenant ID unique to this run, not provisioned.
func (e *env) tenantID() string {
	return fmt.Sprintf("t%sn%d", runID, tenantSeq.Add(1))
}

// ctx returns a context for tenant.
func ctxFor(tenant string) context.Context {
	return kirayedar.NewContext(context.Background(), tenant)
}

// table returns a tenant's physical table, quoted for raw SQL; tenant ""
// names the global copy.
func (e *env) table(tenant, table string) string {
	eng := e.plugin.Engine()
	switch {
	case tenant == "" && e.tg.engine == "sqlite":
		return eng.QuoteIdent(table)
	case tenant == "":
		return eng.Qualify(e.global, table)
	case e.tg.strategy == kirayedar.StrategyPrefix && e.tg.engine == "sqlite":
		return eng.QuoteIdent(tenant + prefixSeparator + table)
	case e.tg.strategy == kirayedar.StrategyPrefix:
		return eng.Qualify(e.global, tenant+prefixSeparator+table)
	}
	return eng.Qualify(tenant, table)
}

// count counts rows of a tenant's (or, for "", the global) table matching
// cond, with raw SQL that the plugin does not route.
func (e *env) count(t testing.TB, tenant, table, cond string, args ...any) int64 {
	t.Helper()
	if cond == "" {
		cond = "1=1"
	}
	var n int64
	if err := e.admin().Raw("SELECT COUNT(*) FROM "+e.table(tenant, table)+" WHERE "+cond, args...).Scan(&n).Error; err != nil {
		t.Fatalf("%s: counting %s of %q: %v", e.tg, table, tenant, err)
	}
	return n
}

// foreignRows returns how many rows of a tenant's table were not written for
// that tenant.
func (e *env) foreignRows(t testing.TB, tenant, table string) int64 {
	t.Helper()
	return e.count(t, tenant, table, "tenant <> ?", tenant)
}

// assertGlobalUntouched checks that the global copies of the tenant tables
// hold the sentinel post (and the audit row its hook wrote) and nothing else.
func (e *env) assertGlobalUntouched(t testing.TB) {
	t.Helper()
	for _, table := range tenantTables {
		want := int64(0)
		if table == "posts" || table == "audit_logs" {
			want = 1
		}
		if n := e.count(t, "", table, ""); n != want {
			t.Errorf("%s: the global copy of %s has %d rows, want %d", e.tg, table, n, want)
		}
	}
}

// admin returns a session for the harness's own raw SQL, which names
// physical tables directly and so must run globally.
func (e *env) admin() *gorm.DB {
	return e.db.WithContext(kirayedar.GlobalContext(context.Background()))
}

// refusal runs fn, which must be refused before anything reaches the
// database with an error matching one of want. It returns what went wrong,
// or "" when fn was refused as required.
func (e *env) refusal(fn func() error, want ...error) string {
	var err error
	prepares := e.sent.prepares.Load()
	sent, begins := e.sentDuring(func() { err = fn() })
	prepares = e.sent.prepares.Load() - prepares
	matched := false
	for _, w := range want {
		matched = matched || errors.Is(err, w)
	}
	switch {
	case !matched:
		return fmt.Sprintf("got %v, want %v", err, want)
	case sent+begins+prepares != 0:
		return fmt.Sprintf("%d statements, %d prepares and %d begins reached the database", sent, prepares, begins)
	}
	return ""
}

// sentDuring returns how many statements, and how many transaction begins,
// fn sent to the database.
func (e *env) sentDuring(fn func()) (statements, begins int64) {
	s, b := e.sent.statements.Load(), e.sent.begins.Load()
	fn()
	return e.sent.statements.Load() - s, e.sent.begins.Load() - b
}

var bareSeq atomic.Int64

// newBareEnv opens a brand-new, empty database of its own for the target
// (PostgreSQL or MySQL), without the global copies the other tests share.
func newBareEnv(t testing.TB, tg target) *env {
	t.Helper()
	return newBareEnvWith(t, tg, nil)
}

// newBareEnvWith is newBareEnv with the configuration edit makes.
func newBareEnvWith(t testing.TB, tg target, edit func(*kirayedar.Config)) *env {
	t.Helper()
	base := databaseFor(t, tg)
	d := &database{tg: tg, name: fmt.Sprintf("%sb%d", base.name, bareSeq.Add(1))}
	databasesMu.Lock()
	d.err = d.setUp()
	databasesMu.Unlock()
	if d.err != nil {
		t.Fatalf("%s: creating a bare database: %v", tg, d.err)
	}
	globalTablesDone.Store(d, true)
	return openBareEnv(t, d, edit)
}

// openBareEnv opens another view of a bare database, with the
// configuration edit makes.
func openBareEnv(t testing.TB, d *database, edit func(*kirayedar.Config)) *env {
	t.Helper()
	tg := d.tg
	e := &env{tg: tg, d: d, global: d.global, sent: new(counters)}
	dialector, sqlDB, err := d.open(e.sent)
	if err != nil {
		t.Fatal(err)
	}
	e.sqlDB = sqlDB
	t.Cleanup(func() { _ = sqlDB.Close() })
	if e.db, err = gorm.Open(dialector, &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)}); err != nil {
		t.Fatal(err)
	}
	cfg := kirayedar.Config{TenantModels: tenantModels(), GlobalModels: globalModels(), Strategy: tg.strategy}
	if edit != nil {
		edit(&cfg)
	}
	e.plugin = kirayedar.New(cfg)
	must(t, e.db.Use(e.plugin))
	if e.prov, err = kirayedar.NewProvisioner(e.db); err != nil {
		t.Fatal(err)
	}
	return e
}

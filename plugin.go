// Package kirayedar is a GORM plugin for schema-based multi-tenancy.
//
// Register it once, mark each request's context with a tenant, and every
// statement GORM builds under that context lands in that tenant's tables: a
// PostgreSQL schema or MySQL/MariaDB database per tenant (StrategySchema), or a
// per-tenant table-name prefix on any engine, SQLite included
// (StrategyPrefix).
//
//	db.Use(kirayedar.New(kirayedar.Config{
//		TenantModels: []any{&Post{}, &Comment{}},
//		GlobalModels: []any{&Plan{}},
//	}))
//	ctx = kirayedar.NewContext(ctx, "acme")
//	db.WithContext(ctx).Find(&posts) // SELECT * FROM "acme"."posts"
//
// A statement on a tenant table whose context carries no tenant fails with
// ErrNoTenant before any SQL is sent; GlobalContext and the Global scope opt
// out on purpose. Hand-written SQL under a tenant (Raw, Exec, join strings,
// subselects in conditions) that names tenant tables by their neutral names
// is rewritten to the tenant's tables as it is sent (resolved by the
// connection under StrategySession); without a tenant it is refused with
// ErrUnroutable, since it would resolve to the global copy.
package kirayedar

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kirayedar/kirayedar/dialect"
	"github.com/kirayedar/kirayedar/telemetry"
)

// Strategy is how a tenant's tables are kept apart from other tenants'.
type Strategy int

const (
	// StrategyDefault picks StrategySchema on PostgreSQL and MySQL and
	// StrategyPrefix on SQLite.
	StrategyDefault Strategy = iota
	// StrategySchema gives each tenant a PostgreSQL schema or a MySQL
	// database named by the tenant ID, and qualifies every table a statement
	// touches with it. No session state, no extra round trip; safe behind
	// PgBouncer in transaction mode.
	StrategySchema
	// StrategyPrefix keeps every tenant's tables in the global schema, named
	// with the tenant ID as a prefix ("acme__posts"). Works on every engine.
	StrategyPrefix
	// StrategySession keeps StrategySchema's schemas and databases and
	// also makes the connection's own name resolution follow the tenant
	// (search_path on PostgreSQL, the current database on MySQL), so raw
	// SQL under a tenant is scoped too. The *sql.DB must be opened on
	// NewConnector, which switches each connection in the same driver call
	// that runs the statement. Not behind a transaction-mode pooler
	// (ErrPooler).
	StrategySession
)

func (s Strategy) String() string {
	switch s {
	case StrategyDefault:
		return "default"
	case StrategySchema:
		return "schema"
	case StrategyPrefix:
		return "prefix"
	case StrategySession:
		return "session"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// Config says which tables belong to tenants and how they are isolated.
type Config struct {
	// TenantModels live once per tenant. Their relations' models and
	// many2many join tables are tenant tables too, unless listed in
	// GlobalModels.
	TenantModels []any
	// GlobalModels live once, in the global schema, and are never
	// qualified. Models in neither list are left alone as well.
	GlobalModels []any
	// Strategy picks the isolation; the zero value is StrategyDefault.
	Strategy Strategy
	// GlobalSchema is the schema (PostgreSQL) or database (MySQL) holding
	// global tables and the tenant registry. Defaults: "public" on
	// PostgreSQL, the connection's current database on MySQL. It can never
	// be a tenant.
	GlobalSchema string
	// ReservedNames are refused as tenant IDs, in addition to the engine's
	// own (public, pg_*, mysql, sys, ...) and the global schema.
	ReservedNames []string
	// RegistryTable names the table, in the global schema, that records
	// which tenants exist. Default "kirayedar_tenants".
	RegistryTable string
	// StrictRawSQL refuses, with ErrNoTenant and before anything is sent,
	// SQL whose context has neither a tenant nor GlobalContext, unless GORM
	// built it for a global model: raw SQL (Raw, Exec, and GORM's migrator,
	// so run AutoMigrate of global models under GlobalContext). Without
	// it, such SQL runs against the global schema; it cannot be told apart
	// from SQL that means to.
	StrictRawSQL bool
	// Telemetry configures lifecycle events, OpenTelemetry spans and
	// metrics, and logging (see package telemetry). The zero value reports
	// to OpenTelemetry's global providers and logs nothing.
	Telemetry telemetry.Options
	// PrefixSeparator joins tenant and table under StrategyPrefix: one or
	// more underscores, default "__" (two), so that IDs may contain a
	// single underscore ("acme_corp" → "acme_corp__posts") and tables of
	// the application's own such as "deleted_users" are not taken for a
	// tenant's. Tenant IDs may not contain it nor end with an underscore.
	PrefixSeparator string
}

// PluginName is what Plugin.Name returns, and the key under which GORM keeps
// the plugin in gorm.Config.Plugins.
const PluginName = "kirayedar"

// Plugin is the GORM plugin. Create it with New and register it with
// (*gorm.DB).Use. One Plugin serves one *gorm.DB (and its sessions).
type Plugin struct {
	cfg Config

	mu   sync.Mutex
	init *gorm.DB // the root DB Initialize ran on

	engine    dialect.Engine
	strategy  Strategy
	global    string
	tables    *tableRegistry
	baseRules dialect.Rules
	rules     atomic.Pointer[rulesFor]
	fp        atomic.Pointer[fingerprintFor]
	// boundTx maps the connection pool of each running Transaction (a
	// *sql.Tx) to its boundTenant; bound counts them, so that statements
	// skip the lookup while there are none.
	boundTx  sync.Map
	bound    atomic.Int64
	names    nameCache
	tel      *telemetry.Recorder
	database string                          // PostgreSQL: the connection's database, for db.namespace
	conn     *connectorState                 // StrategySession: the pool's connector
	globals  sync.Map                        // StrategySession: table → *physical in the global schema
	next     map[string]clause.ClauseBuilder // the clause builders we wrap
}

// New returns the plugin for cfg. Nothing is checked until GORM calls
// Initialize through (*gorm.DB).Use.
func New(cfg Config) *Plugin {
	if cfg.RegistryTable == "" {
		cfg.RegistryTable = "kirayedar_tenants"
	}
	if cfg.PrefixSeparator == "" {
		cfg.PrefixSeparator = "__"
	}
	return &Plugin{cfg: cfg}
}

// Name returns PluginName.
func (p *Plugin) Name() string { return PluginName }

// Initialize detects the engine, classifies the configured models' tables and
// registers the plugin's callbacks and clause builders on db. GORM calls it
// from (*gorm.DB).Use; a second call for the same DB does nothing, and a call
// for a different DB fails.
func (p *Plugin) Initialize(db *gorm.DB) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.init != nil {
		if p.init.Config == db.Config {
			return nil
		}
		return errors.New("kirayedar: plugin already initialized for another *gorm.DB; create one Plugin per DB")
	}
	if err := p.setup(db); err != nil {
		return err
	}
	telOpts := p.cfg.Telemetry
	if telOpts.ErrorType == nil {
		telOpts.ErrorType = errorType
	}
	tel, err := telemetry.New(telOpts, string(p.engine), p.strategy.String())
	if err != nil {
		return err
	}
	p.tel = tel
	if err := p.register(db); err != nil {
		return err
	}
	if err := p.registerTelemetry(db); err != nil {
		return err
	}
	if p.conn != nil {
		p.conn.plugin.Store(p)
	}
	p.init = db
	return nil
}

func (p *Plugin) setup(db *gorm.DB) error {
	engine, err := dialect.Detect(db.Dialector.Name())
	if err != nil {
		return err
	}
	p.engine = engine

	switch p.cfg.Strategy {
	case StrategyDefault:
		p.strategy = StrategySchema
		if engine == dialect.SQLite {
			p.strategy = StrategyPrefix
		}
	case StrategySchema:
		if engine == dialect.SQLite {
			return errors.New("kirayedar: StrategySchema needs PostgreSQL or MySQL; use StrategyPrefix on SQLite")
		}
		p.strategy = StrategySchema
	case StrategyPrefix:
		p.strategy = StrategyPrefix
	case StrategySession:
		if engine == dialect.SQLite {
			return errors.New("kirayedar: StrategySession needs PostgreSQL or MySQL; use StrategyPrefix on SQLite")
		}
		p.strategy = StrategySession
	default:
		return fmt.Errorf("kirayedar: unknown strategy %v", p.cfg.Strategy)
	}

	if sep := p.cfg.PrefixSeparator; !allUnderscores(sep) {
		return fmt.Errorf("kirayedar: PrefixSeparator %q must be one or more underscores", sep)
	}
	if err := checkConfigName("RegistryTable", p.cfg.RegistryTable); err != nil {
		return err
	}
	if p.cfg.GlobalSchema != "" {
		if err := checkConfigName("GlobalSchema", p.cfg.GlobalSchema); err != nil {
			return err
		}
	}

	ctx := db.Statement.Context
	if ctx == nil {
		ctx = context.Background()
	}
	p.global = p.cfg.GlobalSchema
	if p.strategy == StrategySession {
		st, err := p.attachConnector(ctx, db)
		if err != nil {
			return err
		}
		p.conn, p.global = st, st.global
	}
	if p.global == "" {
		p.global = engine.DefaultGlobalSchema()
	}
	if p.global == "" { // MySQL: the connection's database
		var name *string
		if err := db.WithContext(ctx).Raw("SELECT DATABASE()").Scan(&name).Error; err != nil {
			return fmt.Errorf("kirayedar: reading the current database: %w", err)
		}
		if name == nil || *name == "" {
			return errors.New("kirayedar: the connection has no current database; name one in the DSN or set Config.GlobalSchema")
		}
		p.global = *name
	}
	if engine == dialect.Postgres && p.schemaPerTenant() {
		// For db.namespace on statement spans, which OpenTelemetry wants
		// as database.schema on PostgreSQL.
		var database string
		if err := db.WithContext(GlobalContext(ctx)).Raw("SELECT current_database()").Scan(&database).Error; err != nil {
			return fmt.Errorf("kirayedar: reading the current database: %w", err)
		}
		p.database = database
	}

	tables, err := classify(db, p.cfg.TenantModels, p.cfg.GlobalModels, p.cfg.RegistryTable)
	if err != nil {
		return err
	}
	p.tables = tables

	p.baseRules = dialect.Rules{
		Engine:       engine,
		GlobalSchema: p.global,
		Reserved:     p.cfg.ReservedNames,
	}
	return nil
}

// ValidateTenantID reports whether tenant may name a tenant of this
// deployment: the rules of ValidateTenantID for the plugin's engine, plus its
// global schema, Config.ReservedNames and, under StrategyPrefix, the prefix
// separator and the longest prefixed table name. The error wraps
// ErrInvalidTenantID and says why. It needs an initialized plugin.
func (p *Plugin) ValidateTenantID(tenant string) error {
	if p.tables == nil {
		return errors.New("kirayedar: plugin not initialized; register it with db.Use")
	}
	return dialect.Validate(tenant, p.currentRules())
}

// currentRules are the validation rules for the tables as they are now: a
// join table set up with SetupJoinTable after Initialize changes the longest
// prefixed name and the IDs that would collide.
func (p *Plugin) currentRules() dialect.Rules {
	p.tables.refresh()
	snap := p.tables.snapshot()
	if c := p.rules.Load(); c != nil && c.snap == snap {
		return c.rules
	}
	rules := p.baseRules
	if p.strategy == StrategyPrefix {
		rules.PrefixSeparator = p.cfg.PrefixSeparator
		rules.LongestTable = p.tables.longestTenantTable()
		rules.Reserved = append(append([]string(nil), rules.Reserved...), p.tables.prefixCollisions(p.cfg.PrefixSeparator)...)
	}
	p.rules.Store(&rulesFor{snap: snap, rules: rules})
	return rules
}

type rulesFor struct {
	snap  *tableSnapshot
	rules dialect.Rules
}

// Strategy returns the strategy in effect (StrategyDefault resolved).
func (p *Plugin) Strategy() Strategy { return p.strategy }

// schemaPerTenant reports whether each tenant has a schema (PostgreSQL) or
// database (MySQL) of its own: StrategySchema and StrategySession.
func (p *Plugin) schemaPerTenant() bool {
	return p.strategy == StrategySchema || p.strategy == StrategySession
}

// Engine returns the engine detected from the dialector.
func (p *Plugin) Engine() dialect.Engine { return p.engine }

// GlobalSchema returns the schema or database that holds global tables.
func (p *Plugin) GlobalSchema() string { return p.global }

// TenantTables returns the names of the tables that live once per tenant, as
// GORM names them (unqualified, unprefixed), sorted.
func (p *Plugin) TenantTables() []string {
	p.tables.refresh()
	return p.tables.tenantNames()
}

// checkConfigName refuses configured identifiers that quoting could not keep
// whole (quotes, dots, control characters).
func checkConfigName(field, name string) error {
	if name == "" || len(name) > 64 || strings.ContainsAny(name, "`\"'.;\\") {
		return fmt.Errorf("kirayedar: Config.%s %q is not a usable identifier", field, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("kirayedar: Config.%s %q is not a usable identifier", field, name)
		}
	}
	return nil
}

func allUnderscores(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '_' {
			return false
		}
	}
	return true
}

func pluginOf(db *gorm.DB) (*Plugin, error) {
	if db == nil || db.Config == nil {
		return nil, errors.New("kirayedar: nil *gorm.DB")
	}
	p, ok := db.Config.Plugins[PluginName].(*Plugin)
	if !ok || p.tables == nil {
		return nil, errors.New("kirayedar: plugin not registered on this *gorm.DB; call db.Use(kirayedar.New(cfg)) first")
	}
	return p, nil
}

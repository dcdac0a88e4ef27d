// Package provision creates, migrates, renames and drops tenants, and keeps
// the registry of which tenants exist. It is the engine room behind the
// root package's Provisioner, which is its only caller: one back end per
// engine and strategy (postgres.go, mysql.go, prefix.go) behind the backend
// interface, the registry (registry.go), the locks (locks.go), the
// recording and replay of tenant DDL (ddl_replay.go), the migration
// database (migrationdb.go), the fingerprint of the tenant models
// (fingerprint.go) and the MigrateAll planner (migrate_all.go).
//
// It knows GORM and the engines, not the plugin: what it needs of the
// plugin (the tenant models, the names, the hooks that make a statement run
// as written) comes in a Config.
package provision

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/kirayedar/kirayedar/dialect"
	"github.com/kirayedar/kirayedar/telemetry"
)

// The errors a lifecycle operation wraps; the root package exports them.
var (
	ErrTenantExists   = errors.New("tenant already exists")
	ErrTenantNotFound = errors.New("tenant not found")
	ErrLockTimeout    = errors.New("timed out waiting for the tenant lock")
)

// Models is what provisioning reads of the plugin's tenant models.
type Models interface {
	// Models returns the tenant models to migrate, in migration order.
	Models() []any
	// Schemas returns the application's parsed schemas of those models.
	Schemas() []*schema.Schema
	// IsTenant and IsGlobal classify a table name as GORM's schema cache
	// writes it.
	IsTenant(table string) bool
	IsGlobal(table string) bool
	// TenantTables lists the tenant tables' names.
	TenantTables() []string
	// DropOrder lists the tenant tables so that each comes before the
	// tables it references.
	DropOrder() []string
}

// Config is what provisioning needs from the plugin.
type Config struct {
	// DB is the application's *gorm.DB with the plugin registered.
	DB              *gorm.DB
	Engine          dialect.Engine
	Prefixed        bool   // StrategyPrefix: tenants are prefixed tables in the global schema
	Global          string // the global schema (PostgreSQL) or database (MySQL)
	RegistryTable   string
	PrefixSeparator string
	Models          Models
	// Builders are GORM's own clause builders, which the plugin wraps; the
	// migration database uses them as they are.
	Builders  map[string]clause.ClauseBuilder
	Telemetry *telemetry.Recorder
	// LockTimeout and DisableDDLReplay point at the facade's settings,
	// read at each operation.
	LockTimeout      *time.Duration
	DisableDDLReplay *bool

	// Validate refuses an invalid tenant ID.
	Validate func(tenant string) error
	// AsWritten marks a context so that the plugin sends statements under
	// it as written: provisioning names schemas and tables itself.
	AsWritten func(context.Context) context.Context
	// Fingerprint returns the tenant models' fingerprint now.
	Fingerprint func() string
	// SearchPath is the PostgreSQL search_path that puts a tenant's
	// schema first.
	SearchPath func(tenant string) string
	// OpError wraps the error of a failed operation on a tenant.
	OpError func(op, tenant string, err error) error
}

// Provisioner runs the lifecycle operations. It is safe for concurrent use;
// operations on one tenant are serialized, within the process and (with
// PostgreSQL advisory locks and MySQL named locks) across processes.
type Provisioner struct {
	cfg     Config
	db      *gorm.DB
	reg     registry
	locks   keyedMutex
	backend backend
	ddl     ddlCache
	// watchers are called with the tenants of every Create, Drop and
	// Rename that ended (see OnChange).
	watchersMu sync.RWMutex
	watchers   []func(tenants ...string)
}

// backend is the provisioning of one strategy on one engine. Each method runs
// with the tenant IDs validated and the in-process tenant locks held.
type backend interface {
	create(ctx context.Context, tenant string) error
	drop(ctx context.Context, tenant string) error
	migrate(ctx context.Context, tenant string, job migration) (Status, error)
	rename(ctx context.Context, from, to string) error
}

// migration is what a migration brings a tenant to.
type migration struct {
	fingerprint string // the tenant models' fingerprint now
	force       bool   // migrate even a tenant at that fingerprint already
}

// New returns a provisioner for cfg and creates the registry table, under
// ctx, if it is missing.
func New(ctx context.Context, cfg Config) (*Provisioner, error) {
	pr := &Provisioner{cfg: cfg, db: cfg.DB.Session(&gorm.Session{NewDB: true})}
	pr.reg = registry{
		table:      cfg.Engine.RegistryName(cfg.Global, cfg.RegistryTable),
		namespaces: cfg.Engine == dialect.Postgres && !cfg.Prefixed,
	}
	switch {
	case cfg.Prefixed:
		pr.backend = prefixBackend{pr}
	case cfg.Engine == dialect.Postgres:
		pr.backend = postgresSchemaBackend{pr}
	case cfg.Engine == dialect.MySQL:
		pr.backend = mysqlSchemaBackend{pr}
	default:
		return nil, fmt.Errorf("kirayedar: no provisioning for schemas on %s", cfg.Engine)
	}
	if err := pr.ensureRegistry(ctx); err != nil {
		return nil, fmt.Errorf("kirayedar: creating the tenant registry: %w", err)
	}
	return pr, nil
}

// Create makes a tenant (see the root package's Provisioner.Create).
func (pr *Provisioner) Create(ctx context.Context, tenant string) error {
	return pr.run(ctx, "create", []string{tenant}, func(ctx context.Context) error { return pr.backend.create(ctx, tenant) })
}

// Drop removes a tenant (see Provisioner.Drop in the root package).
func (pr *Provisioner) Drop(ctx context.Context, tenant string) error {
	return pr.run(ctx, "drop", []string{tenant}, func(ctx context.Context) error { return pr.backend.drop(ctx, tenant) })
}

// Migrate brings a tenant to the models' fingerprint unless the registry
// says it is there already.
func (pr *Provisioner) Migrate(ctx context.Context, tenant string) error {
	_, err := pr.migrateTenant(ctx, tenant, migration{fingerprint: pr.cfg.Fingerprint()})
	return err
}

func (pr *Provisioner) migrateTenant(ctx context.Context, tenant string, job migration) (status Status, err error) {
	err = pr.run(ctx, "migrate", []string{tenant}, func(ctx context.Context) (err error) {
		status, err = pr.backend.migrate(ctx, tenant, job)
		return err
	})
	if err != nil {
		status = Failed
	}
	return status, err
}

// Rename gives a tenant a new ID, keeping its rows.
func (pr *Provisioner) Rename(ctx context.Context, from, to string) error {
	return pr.run(ctx, "rename", []string{from, to}, func(ctx context.Context) error {
		if from == to {
			return fmt.Errorf("%s: %w", to, ErrTenantExists)
		}
		return pr.backend.rename(ctx, from, to)
	})
}

// Exists reports whether the tenant is in the registry and ready.
func (pr *Provisioner) Exists(ctx context.Context, tenant string) (bool, error) {
	if err := pr.cfg.Validate(tenant); err != nil {
		return false, pr.cfg.OpError("exists", tenant, err)
	}
	ok, err := pr.reg.exists(pr.global(ctx), tenant)
	if err != nil {
		return false, pr.cfg.OpError("exists", tenant, err)
	}
	return ok, nil
}

// List returns the IDs of the ready tenants, sorted.
func (pr *Provisioner) List(ctx context.Context) ([]string, error) {
	ids, err := pr.reg.list(pr.global(ctx))
	if err != nil {
		return nil, fmt.Errorf("kirayedar: listing tenants: %w", err)
	}
	return ids, nil
}

// OnChange registers fn to be called with the tenants of every Create, Drop
// and Rename, when it ends.
func (pr *Provisioner) OnChange(fn func(tenants ...string)) {
	pr.watchersMu.Lock()
	defer pr.watchersMu.Unlock()
	pr.watchers = append(pr.watchers, fn)
}

func (pr *Provisioner) changed(tenants []string) {
	pr.watchersMu.RLock()
	defer pr.watchersMu.RUnlock()
	for _, fn := range pr.watchers {
		fn(tenants...)
	}
}

// run validates the tenant IDs, takes their in-process locks and runs fn,
// as one telemetry record. Its error names the first tenant.
func (pr *Provisioner) run(ctx context.Context, op string, tenants []string, fn func(context.Context) error) (err error) {
	newTenant := ""
	if op == "rename" {
		newTenant = tenants[1]
	}
	ctx, rec := pr.cfg.Telemetry.Begin(ctx, op, tenants[0], newTenant)
	defer func() {
		if v := recover(); v != nil {
			rec.End(panicked(v))
			panic(v)
		}
		rec.End(err)
	}()
	if op != "migrate" {
		defer pr.changed(tenants)
	}
	// Validate also picks up join tables set up after Initialize, so
	// Create and Drop see every table the tenant has.
	for _, t := range tenants {
		if err := pr.cfg.Validate(t); err != nil {
			return pr.cfg.OpError(op, t, err)
		}
	}
	ctx, unlock, err := pr.lockInProcess(ctx, tenants)
	if err != nil {
		return pr.cfg.OpError(op, tenants[0], err)
	}
	defer unlock()
	if err := fn(ctx); err != nil {
		// A driver may report a cancelled statement as a broken connection
		// (MySQL's kills it): say why, so errors.Is finds the context's error.
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return pr.cfg.OpError(op, tenants[0], err)
	}
	return nil
}

// panicked turns a recovered panic into the error an operation reports
// before the panic goes on.
func panicked(v any) error { return fmt.Errorf("kirayedar: panic: %v", v) }

// global returns a session that runs statements as written: the provisioner
// names schemas and tables itself.
func (pr *Provisioner) global(ctx context.Context) *gorm.DB {
	return pr.db.WithContext(pr.cfg.AsWritten(ctx))
}

func (pr *Provisioner) ensureRegistry(ctx context.Context) error {
	e := pr.cfg.Engine
	ddl := e.CreateRegistry(pr.cfg.Global, pr.cfg.RegistryTable)
	if e.TransactionLock() != "" {
		// Concurrent CREATE TABLE IF NOT EXISTS can still collide on PostgreSQL.
		return pr.inTransaction(ctx, []string{"kirayedar:registry"}, func(tx *gorm.DB) error {
			return tx.Exec(ddl).Error
		})
	}
	return pr.global(ctx).Exec(ddl).Error
}

// existsError explains an ErrTenantExists found in the catalog rather than
// the registry.
func existsError(what string) error {
	return fmt.Errorf("%s already exists but is not registered (left untouched): %w", what, ErrTenantExists)
}

// compensate joins a failure with the errors of undoing it.
func compensate(err error, undo ...error) error {
	return errors.Join(append([]error{err}, undo...)...)
}

// renameChecks refuses a rename whose source is not a ready tenant or whose
// target is in the registry already.
func (pr *Provisioner) renameChecks(db *gorm.DB, from, to string) error {
	if st, err := pr.reg.status(db, from); err != nil {
		return err
	} else if st != statusReady {
		return fmt.Errorf("%s: %w", from, ErrTenantNotFound)
	}
	if st, err := pr.reg.status(db, to); err != nil {
		return err
	} else if st != "" {
		return fmt.Errorf("%s: %w", to, ErrTenantExists)
	}
	return nil
}

package kirayedar

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"time"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar/dialect"
)

// Provisioner creates, migrates and drops tenants, and keeps the registry of
// which tenants exist: a table in the global schema. Applications call it
// from their sign-up flows and deploy jobs. It is safe for concurrent use;
// operations on one tenant are serialized, within the process and (with
// PostgreSQL advisory locks and MySQL named locks) across processes.
type Provisioner struct {
	db      *gorm.DB
	p       *Plugin
	reg     registry
	locks   keyedMutex
	backend backend
	// LockTimeout bounds how long an operation waits for another one on the
	// same tenant (MySQL named locks). Default 30s; the context can cut it
	// shorter.
	LockTimeout time.Duration
}

// backend is the provisioning of one strategy on one engine. Each method runs
// with the tenant ID validated and the in-process tenant lock held.
type backend interface {
	create(ctx context.Context, tenant string) error
	drop(ctx context.Context, tenant string) error
	migrate(ctx context.Context, tenant string) error
}

// NewProvisioner returns a provisioner for db, which must have the plugin
// registered. It creates the registry table if it is missing, using db's
// statement context.
func NewProvisioner(db *gorm.DB) (*Provisioner, error) {
	p, err := pluginOf(db)
	if err != nil {
		return nil, err
	}
	if _, inTx := db.Statement.ConnPool.(gorm.TxCommitter); inTx {
		return nil, errors.New("kirayedar: NewProvisioner needs a *gorm.DB on the connection pool, not a transaction; it runs its own")
	}
	pr := &Provisioner{db: db.Session(&gorm.Session{NewDB: true}), p: p, reg: newRegistry(p), LockTimeout: 30 * time.Second}
	switch {
	case p.strategy == StrategyPrefix:
		pr.backend = prefixBackend{pr}
	case p.engine == dialect.Postgres:
		pr.backend = postgresSchemaBackend{pr}
	case p.engine == dialect.MySQL:
		pr.backend = mysqlSchemaBackend{pr}
	default:
		return nil, fmt.Errorf("kirayedar: no provisioning for %s on %s", p.strategy, p.engine)
	}
	if err := pr.ensureRegistry(statementContext(db)); err != nil {
		return nil, fmt.Errorf("kirayedar: creating the tenant registry: %w", err)
	}
	return pr, nil
}

// Plugin returns the plugin the provisioner works for.
func (pr *Provisioner) Plugin() *Plugin { return pr.p }

// Create makes a tenant: its schema, database or prefixed tables, migrated
// to the tenant models, and its registry row. It is atomic on PostgreSQL and
// SQLite (one transaction) and compensated on MySQL (what it created is
// dropped on failure): a failed Create leaves nothing behind. A tenant that
// exists already yields ErrTenantExists and is left untouched.
func (pr *Provisioner) Create(ctx context.Context, tenant string) error {
	return pr.run(ctx, "create", tenant, pr.backend.create)
}

// Drop removes a tenant's schema, database or tables and its registry row. A
// tenant not in the registry yields ErrTenantNotFound; reserved names and the
// global schema are refused as invalid IDs before any SQL is built.
func (pr *Provisioner) Drop(ctx context.Context, tenant string) error {
	return pr.run(ctx, "drop", tenant, pr.backend.drop)
}

// Migrate brings an existing tenant's tables up to the tenant models with
// GORM's AutoMigrate. A tenant not in the registry yields ErrTenantNotFound.
func (pr *Provisioner) Migrate(ctx context.Context, tenant string) error {
	return pr.run(ctx, "migrate", tenant, pr.backend.migrate)
}

// Exists reports whether the tenant is in the registry and ready (on
// PostgreSQL with StrategySchema, also whether its schema exists).
func (pr *Provisioner) Exists(ctx context.Context, tenant string) (bool, error) {
	if err := pr.p.ValidateTenantID(tenant); err != nil {
		return false, &Error{Op: "exists", Tenant: tenant, Err: err}
	}
	ok, err := pr.reg.exists(pr.global(ctx), tenant)
	if err != nil {
		return false, &Error{Op: "exists", Tenant: tenant, Err: err}
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

func (pr *Provisioner) run(ctx context.Context, op, tenant string, fn func(context.Context, string) error) error {
	// ValidateTenantID also picks up join tables set up after Initialize, so
	// Create and Drop see every table the tenant has.
	if err := pr.p.ValidateTenantID(tenant); err != nil {
		return &Error{Op: op, Tenant: tenant, Err: err}
	}
	unlock, err := pr.locks.lock(ctx, tenant)
	if err != nil {
		return &Error{Op: op, Tenant: tenant, Err: err}
	}
	defer unlock()
	if err := fn(ctx, tenant); err != nil {
		return &Error{Op: op, Tenant: tenant, Err: err}
	}
	return nil
}

// global returns a session that runs statements as written: the provisioner
// names schemas and tables itself.
func (pr *Provisioner) global(ctx context.Context) *gorm.DB {
	return pr.db.WithContext(GlobalContext(ctx))
}

func (pr *Provisioner) ensureRegistry(ctx context.Context) error {
	e := pr.p.engine
	ddl := e.CreateRegistry(pr.p.global, pr.p.cfg.RegistryTable)
	if lock := e.TransactionLock(); lock != "" {
		// Concurrent CREATE TABLE IF NOT EXISTS can still collide on PostgreSQL.
		return pr.global(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec(lock, "kirayedar:registry").Error; err != nil {
				return err
			}
			return tx.Exec(ddl).Error
		})
	}
	return pr.global(ctx).Exec(ddl).Error
}

// inTransaction runs fn in one transaction holding the tenant's transaction
// lock where the engine has one (PostgreSQL advisory lock).
func (pr *Provisioner) inTransaction(ctx context.Context, tenant string, fn func(tx *gorm.DB) error) error {
	return pr.global(ctx).Transaction(func(tx *gorm.DB) error {
		if lock := pr.p.engine.TransactionLock(); lock != "" {
			if err := tx.Exec(lock, lockName(tenant)).Error; err != nil {
				return fmt.Errorf("taking the tenant lock: %w", err)
			}
		}
		return fn(tx)
	})
}

// onPinnedConn runs fn on one connection taken from the pool, holding the
// tenant's MySQL named lock. When fn fails, or the lock cannot be given back,
// the connection's state (current database, locks) is unknown, so it is
// closed rather than pooled again; closing it also frees the lock.
func (pr *Provisioner) onPinnedConn(ctx context.Context, tenant string, fn func(conn *gorm.DB) error) (err error) {
	sqlDB, err := pr.db.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	discard := false
	defer func() {
		if err != nil || discard {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		_ = conn.Close()
	}()
	session := pr.db.Session(&gorm.Session{NewDB: true, Context: GlobalContext(ctx)})
	session.Statement.ConnPool = conn

	lock, release := pr.p.engine.SessionLock()
	if lock != "" {
		timeout := pr.LockTimeout
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < timeout {
			timeout = time.Until(deadline)
		}
		var got *int64
		seconds := int64(math.Ceil(timeout.Seconds())) // GET_LOCK(name, 0) would not wait at all
		if err := session.Raw(lock, lockName(tenant), max(seconds, 1)).Scan(&got).Error; err != nil {
			return fmt.Errorf("taking the tenant lock: %w", err)
		}
		if got == nil || *got != 1 {
			return fmt.Errorf("taking the tenant lock: timed out after %v", timeout)
		}
		defer func() {
			// The work is done or undone; the caller's context ending now
			// must not turn it into a failure.
			detached, cancel := pr.detached(ctx, session)
			defer cancel()
			if detached.Exec(release, lockName(tenant)).Error != nil {
				discard = true
			}
		}()
	}
	return fn(session)
}

// lockName names a tenant's lock. MySQL limits lock names to 64 characters;
// tenant IDs are at most 64 bytes, so long ones are shortened by a hash.
func lockName(tenant string) string {
	const prefix = "kirayedar:"
	if len(prefix)+len(tenant) <= 64 {
		return prefix + tenant
	}
	return fmt.Sprintf("%s%s~%016x", prefix, tenant[:32], fnv64(tenant))
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
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

package kirayedar

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
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
	ddl     ddlCache
	// watchers are called with the tenants of every Create, Drop and
	// Rename that ended (see OnChange).
	watchersMu sync.RWMutex
	watchers   []func(tenants ...string)
	// LockTimeout bounds how long an operation waits for another one on the
	// same tenant, in this process or another, before failing with
	// ErrLockTimeout. Zero or less means the default, 30s; the context can
	// cut it shorter. Set it before the provisioner is used.
	LockTimeout time.Duration
	// DisableDDLReplay makes every Create and migration run GORM's
	// AutoMigrate in full, catalog queries included, instead of replaying
	// DDL recorded from an earlier one (StrategySchema) or creating the
	// tables of a new tenant without looking. For comparison and diagnosis;
	// set it before the provisioner is used.
	DisableDDLReplay bool
}

// backend is the provisioning of one strategy on one engine. Each method runs
// with the tenant IDs validated and the in-process tenant locks held.
type backend interface {
	create(ctx context.Context, tenant string) error
	drop(ctx context.Context, tenant string) error
	migrate(ctx context.Context, tenant string, job migration) (MigrateStatus, error)
	rename(ctx context.Context, from, to string) error
}

// migration is what a migration brings a tenant to.
type migration struct {
	fingerprint string // the tenant models' fingerprint now
	force       bool   // migrate even a tenant at that fingerprint already
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
	return pr.run(ctx, "create", []string{tenant}, func(ctx context.Context) error { return pr.backend.create(ctx, tenant) })
}

// Drop removes a tenant's schema, database or tables and its registry row. A
// tenant not in the registry yields ErrTenantNotFound; reserved names and the
// global schema are refused as invalid IDs before any SQL is built.
//
// On PostgreSQL it first ends the server processes of connections, in any
// process, that StrategySession left set for the tenant (NewConnector), so
// that none of them resolves the tenant's table names in the global schema
// once the schema is gone: statements running on them fail, and idle ones
// are replaced by their pools. That needs the right to end those processes
// (the same role, or pg_signal_backend); it waits at most LockTimeout.
func (pr *Provisioner) Drop(ctx context.Context, tenant string) error {
	return pr.run(ctx, "drop", []string{tenant}, func(ctx context.Context) error { return pr.backend.drop(ctx, tenant) })
}

// Migrate brings an existing tenant's tables up to the tenant models with
// GORM's AutoMigrate (or DDL recorded from it), unless the registry says the
// tenant was migrated to the models' current fingerprint already; then it
// sends nothing but the registry read. It takes the same path, locks and
// checks as one tenant of MigrateAll. To migrate a current tenant anyway
// (its tables were changed by hand), use MigrateAll with Tenants and Force.
// A tenant not in the registry yields ErrTenantNotFound.
func (pr *Provisioner) Migrate(ctx context.Context, tenant string) error {
	_, err := pr.migrateTenant(ctx, tenant, migration{fingerprint: pr.p.Fingerprint()})
	return err
}

func (pr *Provisioner) migrateTenant(ctx context.Context, tenant string, job migration) (status MigrateStatus, err error) {
	err = pr.run(ctx, "migrate", []string{tenant}, func(ctx context.Context) (err error) {
		status, err = pr.backend.migrate(ctx, tenant, job)
		return err
	})
	if err != nil {
		status = StatusFailed
	}
	return status, err
}

// Rename gives a tenant a new ID, keeping its rows: PostgreSQL renames the
// schema (ALTER SCHEMA, in one transaction with the registry); MySQL moves
// every table into a new database with one atomic RENAME TABLE and drops the
// old one (compensated: a failure moves them back); under StrategyPrefix the
// rows are copied into tables created for the new ID and the old ones are
// dropped. Both IDs are validated; a source that is not a ready tenant
// yields ErrTenantNotFound and a target that is in the registry, or whose
// schema, database or tables exist, yields ErrTenantExists. Both tenants'
// locks are held throughout. Statements already running against the old
// name finish or fail; the application should stop using it first. On
// PostgreSQL the connections StrategySession left set for the old ID are
// ended first, as by Drop.
func (pr *Provisioner) Rename(ctx context.Context, from, to string) error {
	return pr.run(ctx, "rename", []string{from, to}, func(ctx context.Context) error {
		if from == to {
			return fmt.Errorf("%s: %w", to, ErrTenantExists)
		}
		return pr.backend.rename(ctx, from, to)
	})
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

// OnChange registers fn to be called with the tenants of every Create, Drop
// and Rename this provisioner ran, when it ends (successfully or not): the
// HTTP resolver drops its cached answers for them. fn runs on the
// operation's goroutine and must be quick.
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

// run validates the tenant IDs, takes their in-process locks and runs fn.
// Its error names the first tenant.
func (pr *Provisioner) run(ctx context.Context, op string, tenants []string, fn func(context.Context) error) (err error) {
	newTenant := ""
	if op == "rename" {
		newTenant = tenants[1]
	}
	ctx, rec := pr.p.tel.Begin(ctx, op, tenants[0], newTenant)
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
	wrap := func(err error) error { return &Error{Op: op, Tenant: tenants[0], Err: err} }
	// ValidateTenantID also picks up join tables set up after Initialize, so
	// Create and Drop see every table the tenant has.
	for _, t := range tenants {
		if err := pr.p.ValidateTenantID(t); err != nil {
			return &Error{Op: op, Tenant: t, Err: err}
		}
	}
	ctx, unlock, err := pr.lockInProcess(ctx, tenants)
	if err != nil {
		return wrap(err)
	}
	defer unlock()
	if err := fn(ctx); err != nil {
		// A driver may report a cancelled statement as a broken connection
		// (MySQL's kills it): say why, so errors.Is finds the context's error.
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return wrap(err)
	}
	return nil
}

// global returns a session that runs statements as written: the provisioner
// names schemas and tables itself.
func (pr *Provisioner) global(ctx context.Context) *gorm.DB {
	return pr.db.WithContext(provisioningContext(ctx))
}

func (pr *Provisioner) ensureRegistry(ctx context.Context) error {
	e := pr.p.engine
	ddl := e.CreateRegistry(pr.p.global, pr.p.cfg.RegistryTable)
	if e.TransactionLock() != "" {
		// Concurrent CREATE TABLE IF NOT EXISTS can still collide on PostgreSQL.
		return pr.inTransaction(ctx, []string{"kirayedar:registry"}, func(tx *gorm.DB) error {
			return tx.Exec(ddl).Error
		})
	}
	return pr.global(ctx).Exec(ddl).Error
}

// defaultLockTimeout is LockTimeout's default.
const defaultLockTimeout = 30 * time.Second

// undoTimeout bounds the compensation of a failed operation on MySQL, which
// runs after the caller's context may have ended.
const undoTimeout = time.Minute

// lockWait is how long a lock may still be waited for: what is left of the
// operation's lock budget (LockTimeout from when it started waiting), or
// less if the context ends sooner.
func (pr *Provisioner) lockWait(ctx context.Context) time.Duration {
	wait := pr.LockTimeout
	if wait <= 0 {
		wait = defaultLockTimeout
	}
	if budget, ok := ctx.Value(lockBudgetKey{}).(time.Time); ok && !budget.IsZero() {
		wait = min(wait, time.Until(budget))
	}
	if deadline, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(deadline))
	}
	return max(wait, time.Millisecond)
}

// lockBudgetKey keys the time by which an operation must hold all its locks.
type lockBudgetKey struct{}

// lockInProcess takes the tenants' in-process locks, waiting at most
// lockWait, and returns ctx carrying the lock budget for the database locks
// that follow.
func (pr *Provisioner) lockInProcess(ctx context.Context, tenants []string) (context.Context, func(), error) {
	wait := pr.lockWait(ctx)
	ctx = context.WithValue(ctx, lockBudgetKey{}, time.Now().Add(wait))
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	unlock, err := pr.locks.lock(wctx, tenants...)
	if err != nil && ctx.Err() == nil {
		return ctx, nil, lockError(nil, wait)
	}
	return ctx, unlock, err
}

// freshLockBudget lets compensation, which runs after the operation's own
// budget may be spent, wait LockTimeout anew.
func freshLockBudget(ctx context.Context) context.Context {
	return context.WithValue(ctx, lockBudgetKey{}, time.Time{})
}

// inTransaction runs fn in one transaction holding the tenants' transaction
// locks where the engine has them (PostgreSQL advisory locks, taken in
// sorted order so that two operations never wait for each other). On
// PostgreSQL each wait is bounded by lockWait with lock_timeout, local to
// the transaction and reset to its default (the server's, database's or
// role's setting) once the locks are held; the context's end cancels it
// sooner.
func (pr *Provisioner) inTransaction(ctx context.Context, tenants []string, fn func(tx *gorm.DB) error) error {
	done := false
	err := pr.global(ctx).Transaction(func(tx *gorm.DB) error {
		if lock := pr.p.engine.TransactionLock(); lock != "" {
			for _, t := range sortedUnique(tenants) {
				wait := pr.lockWait(ctx)
				if err := tx.Exec(pr.p.engine.SetLocalLockTimeout(), fmt.Sprintf("%dms", max(wait.Milliseconds(), 1))).Error; err != nil {
					return err
				}
				if err := tx.Exec(lock, lockName(t)).Error; err != nil {
					return lockError(err, wait)
				}
			}
			if err := tx.Exec(pr.p.engine.ResetLockTimeout()).Error; err != nil {
				return err
			}
		}
		if err := fn(tx); err != nil {
			return err
		}
		done = true
		return nil
	})
	if err != nil && done && ctx.Err() != nil {
		// The work was done and the context ended around the COMMIT: the
		// server may have committed it or not.
		return &commitUncertain{err: err}
	}
	return err
}

// commitUncertain is the error of a transaction that ended with its context
// while it committed.
type commitUncertain struct{ err error }

func (e *commitUncertain) Error() string { return e.err.Error() }
func (e *commitUncertain) Unwrap() error { return e.err }

// settle decides a commitUncertain error of an operation on tenant by
// reading the registry row the transaction wrote, on a context of its own:
// committed reports, from the row's status ("" for none), whether the
// transaction landed. When it did, the operation succeeded; otherwise, or
// when the registry cannot be read, the error stands.
func (pr *Provisioner) settle(ctx context.Context, err error, tenant string, committed func(status string) bool) error {
	var uncertain *commitUncertain
	if !errors.As(err, &uncertain) {
		return err
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	st, serr := pr.reg.status(pr.global(dctx), tenant)
	if serr == nil && committed(st) {
		return nil
	}
	return uncertain.err
}

func isReady(status string) bool { return status == statusReady }
func isGone(status string) bool  { return status == "" }

// onPinnedConn runs fn on one connection taken from the pool, holding the
// tenants' MySQL named locks (taken in sorted order). When fn fails, or a
// lock cannot be given back, the connection's state (current database,
// locks) is unknown, so it is closed rather than pooled again; closing it
// also frees the locks.
func (pr *Provisioner) onPinnedConn(ctx context.Context, tenants []string, fn func(conn *gorm.DB) error) (err error) {
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
	session := pr.db.Session(&gorm.Session{NewDB: true, Context: provisioningContext(ctx)})
	session.Statement.ConnPool = conn

	lock, release := pr.p.engine.SessionLock()
	if lock == "" {
		return fn(session)
	}
	for _, t := range sortedUnique(tenants) {
		wait := pr.lockWait(ctx)
		var got *int64
		// MariaDB waits fractions of a second; GET_LOCK(name, 0) would not
		// wait at all.
		seconds := math.Max(math.Round(wait.Seconds()*1000)/1000, 0.001)
		if err := session.Raw(lock, lockName(t), seconds).Scan(&got).Error; err != nil {
			return fmt.Errorf("taking the lock of tenant %s: %w", t, err)
		}
		switch {
		case got == nil:
			return fmt.Errorf("taking the lock of tenant %s: GET_LOCK failed", t)
		case *got != 1:
			return lockError(nil, wait)
		}
		defer func() {
			// The work is done or undone; the caller's context ending now
			// must not turn it into a failure.
			detached, cancel := pr.detached(ctx, session)
			defer cancel()
			if detached.Exec(release, lockName(t)).Error != nil {
				discard = true
			}
		}()
	}
	return fn(session)
}

// lockError reports a lock that was not granted: ErrLockTimeout when the wait
// ran out (PostgreSQL's lock_not_available, or MySQL's GET_LOCK returning
// 0), the cause otherwise.
func lockError(cause error, wait time.Duration) error {
	var state interface{ SQLState() string }
	if cause == nil || (errors.As(cause, &state) && state.SQLState() == "55P03") {
		return fmt.Errorf("waited %v for the tenant lock: %w", wait, ErrLockTimeout)
	}
	return fmt.Errorf("taking the tenant lock: %w", cause)
}

func sortedUnique(keys []string) []string {
	out := append([]string(nil), keys...)
	sort.Strings(out)
	return slices.Compact(out)
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

// autoMigrateOn returns a function that runs GORM's AutoMigrate of the tenant
// models for tenant on a pool (a transaction, a pinned connection, or a
// recorder wrapping one), set up by the caller so that the tenant's tables
// resolve.
func (pr *Provisioner) autoMigrateOn(ctx context.Context, tenant string) func(gorm.ConnPool) error {
	return func(pool gorm.ConnPool) error {
		mdb, err := pr.p.migrationDB(pr.db, pool, tenant)
		if err != nil {
			return err
		}
		return mdb.WithContext(ctx).AutoMigrate(pr.p.tables.models...)
	}
}

// createTablesOn returns a function that creates the tenant models' tables
// for tenant on a pool, as autoMigrateOn does, for a tenant that has none:
// GORM's CreateTable for each model in AutoMigrate's order, which is what
// AutoMigrate sends into an empty schema, without its catalog queries.
func (pr *Provisioner) createTablesOn(ctx context.Context, tenant string) func(gorm.ConnPool) error {
	if pr.DisableDDLReplay {
		return pr.autoMigrateOn(ctx, tenant)
	}
	return func(pool gorm.ConnPool) error {
		mdb, err := pr.p.migrationDB(pr.db, pool, tenant)
		if err != nil {
			return err
		}
		m := mdb.WithContext(ctx).Migrator()
		reorderer, ok := m.(interface {
			ReorderModels(values []any, autoAdd bool) []any
		})
		if !ok {
			return mdb.WithContext(ctx).AutoMigrate(pr.p.tables.models...)
		}
		for _, model := range reorderer.ReorderModels(pr.p.tables.models, true) {
			if err := m.CreateTable(model); err != nil {
				return err
			}
		}
		return nil
	}
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

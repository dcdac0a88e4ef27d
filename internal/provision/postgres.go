package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar/internal/session"
)

// postgresSchemaBackend provisions a PostgreSQL schema per tenant. Every
// operation is one transaction holding the tenants' advisory locks; DDL is
// transactional, so a failure leaves nothing behind. search_path is set with
// set_config(..., true), which ends with the transaction: nothing leaks into
// the pool, and it is safe behind PgBouncer in transaction mode.
type postgresSchemaBackend struct{ pr *Provisioner }

func (b postgresSchemaBackend) create(ctx context.Context, tenant string) error {
	pr := b.pr
	e := pr.cfg.Engine
	fingerprint := pr.cfg.Fingerprint()
	err := pr.inTransaction(ctx, []string{tenant}, func(tx *gorm.DB) error {
		if err := pr.reg.requireAbsent(tx, tenant); err != nil {
			return err
		}
		var n int64
		if err := tx.Raw(e.SchemaExists(), tenant).Scan(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return existsError("schema " + e.QuoteIdent(tenant))
		}
		if err := tx.Exec(e.CreateSchema(tenant)).Error; err != nil {
			return err
		}
		if err := b.searchPath(tx, tenant); err != nil {
			return err
		}
		if err := pr.buildTenant(tx, tenant, fingerprint); err != nil {
			return err
		}
		return pr.reg.insert(tx, tenant, fingerprint)
	})
	return pr.settle(ctx, err, tenant, isReady)
}

func (b postgresSchemaBackend) drop(ctx context.Context, tenant string) error {
	pr := b.pr
	err := pr.inTransaction(ctx, []string{tenant}, func(tx *gorm.DB) error {
		if err := pr.reg.requirePresent(tx, tenant); err != nil {
			return err
		}
		if err := b.evictSessions(ctx, tx, tenant); err != nil {
			return err
		}
		if err := tx.Exec(pr.cfg.Engine.DropSchema(tenant)).Error; err != nil {
			return err
		}
		return pr.reg.remove(tx, tenant)
	})
	return pr.settle(ctx, err, tenant, isGone)
}

func (b postgresSchemaBackend) migrate(ctx context.Context, tenant string, job migration) (status Status, err error) {
	err = b.pr.inTransaction(ctx, []string{tenant}, func(tx *gorm.DB) (err error) {
		status, err = b.pr.migrateLocked(tx, tenant, job, func(tx *gorm.DB, tenant string, fn func() error) error {
			if err := b.searchPath(tx, tenant); err != nil {
				return err
			}
			return fn()
		})
		return err
	})
	return status, err
}

// rename renames the schema: one statement, in the transaction that moves
// the registry row. Everything in the schema moves with it.
func (b postgresSchemaBackend) rename(ctx context.Context, from, to string) error {
	pr := b.pr
	e := pr.cfg.Engine
	return pr.inTransaction(ctx, []string{from, to}, func(tx *gorm.DB) error {
		if err := pr.renameChecks(tx, from, to); err != nil {
			return err
		}
		var n int64
		if err := tx.Raw(e.SchemaExists(), to).Scan(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return existsError("schema " + e.QuoteIdent(to))
		}
		if err := b.evictSessions(ctx, tx, from); err != nil {
			return err
		}
		if err := tx.Exec(e.RenameSchema(from, to)).Error; err != nil {
			return err
		}
		return pr.reg.rename(tx, from, to)
	})
}

// searchPath puts the tenant's schema first on the transaction's
// search_path, so GORM's migrator creates and inspects tables there, and the
// global schema second, so types, domains and extensions installed there
// resolve.
func (b postgresSchemaBackend) searchPath(tx *gorm.DB, tenant string) error {
	p := &b.pr.cfg
	return tx.Exec(p.Engine.SetLocalSearchPath(), p.SearchPath(tenant)).Error
}

// evictSessions makes sure that, once tx commits, no connection has its
// name resolution set for tenant's schema, which is about to be dropped or
// renamed: on PostgreSQL a schema missing from search_path is skipped, and a
// connection still set for it would resolve the tenant's table names in the
// global schema. Connections of StrategySession pools, in any process, hold
// a shared advisory lock keyed on the tenant for as long as they are set for
// it (internal/session). evictSessions takes that lock exclusively, until tx
// ends, and ends the server processes holding it, with
// pg_terminate_backend, until it gets it: statements running on them fail
// (their transactions roll back), idle connections are closed by their
// pools on next use, and no connection can be set for the tenant again
// before tx commits: a switch to it waits, then finds the schema missing.
// The wait is bounded by what is left of the lock budget (LockTimeout). It
// needs the right to signal those processes: the same role, or membership
// in pg_signal_backend.
func (b postgresSchemaBackend) evictSessions(ctx context.Context, tx *gorm.DB, tenant string) error {
	wait := b.pr.lockWait(ctx)
	deadline := time.Now().Add(wait)
	pause := time.Millisecond
	for {
		var got bool
		if err := tx.Raw(session.TryTenantLock, tenant).Scan(&got).Error; err != nil {
			return fmt.Errorf("taking the session lock of tenant %s: %w", tenant, err)
		}
		if got {
			return nil
		}
		var ended int64
		if err := tx.Raw("SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(h.pid)) FROM ("+
			session.TenantLockHolders+") h", tenant).Scan(&ended).Error; err != nil {
			var state interface{ SQLState() string }
			if errors.As(err, &state) && state.SQLState() == "42501" {
				return fmt.Errorf("ending the connections set for tenant %s needs the role that opened them, or pg_signal_backend: %w", tenant, err)
			}
			return fmt.Errorf("ending the connections set for tenant %s: %w", tenant, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ending the connections set for tenant %s: %w", tenant, lockError(nil, wait))
		}
		// The processes exit, and give the lock back, asynchronously.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}

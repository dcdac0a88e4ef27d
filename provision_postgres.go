package kirayedar

import (
	"context"

	"gorm.io/gorm"
)

// postgresSchemaBackend provisions a PostgreSQL schema per tenant. Every
// operation is one transaction holding the tenants' advisory locks; DDL is
// transactional, so a failure leaves nothing behind. search_path is set with
// set_config(..., true), which ends with the transaction: nothing leaks into
// the pool, and it is safe behind PgBouncer in transaction mode.
type postgresSchemaBackend struct{ pr *Provisioner }

func (b postgresSchemaBackend) create(ctx context.Context, tenant string) error {
	pr := b.pr
	e := pr.p.engine
	fingerprint := pr.p.Fingerprint()
	err := pr.inTransaction(ctx, []string{tenant}, func(tx *gorm.DB) error {
		if st, err := pr.reg.status(tx, tenant); err != nil {
			return err
		} else if st != "" {
			return ErrTenantExists
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
		if st, err := pr.reg.status(tx, tenant); err != nil {
			return err
		} else if st == "" {
			return ErrTenantNotFound
		}
		if err := tx.Exec(pr.p.engine.DropSchema(tenant)).Error; err != nil {
			return err
		}
		return pr.reg.remove(tx, tenant)
	})
	return pr.settle(ctx, err, tenant, isGone)
}

func (b postgresSchemaBackend) migrate(ctx context.Context, tenant string, job migration) (status MigrateStatus, err error) {
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
	e := pr.p.engine
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
	p := b.pr.p
	return tx.Exec(p.engine.SetLocalSearchPath(), p.searchPath(tenant)).Error
}

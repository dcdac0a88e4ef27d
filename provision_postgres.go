package kirayedar

import (
	"context"

	"gorm.io/gorm"
)

// postgresSchemaBackend provisions a PostgreSQL schema per tenant. Every
// operation is one transaction holding the tenant's advisory lock; DDL is
// transactional, so a failure leaves nothing behind. search_path is set with
// set_config(..., true), which ends with the transaction: nothing leaks into
// the pool, and it is safe behind PgBouncer in transaction mode.
type postgresSchemaBackend struct{ pr *Provisioner }

func (b postgresSchemaBackend) create(ctx context.Context, tenant string) error {
	pr := b.pr
	e := pr.p.engine
	return pr.inTransaction(ctx, tenant, func(tx *gorm.DB) error {
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
		if err := b.migrateIn(tx, tenant); err != nil {
			return err
		}
		return pr.reg.insert(tx, tenant, statusReady)
	})
}

func (b postgresSchemaBackend) drop(ctx context.Context, tenant string) error {
	pr := b.pr
	return pr.inTransaction(ctx, tenant, func(tx *gorm.DB) error {
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
}

func (b postgresSchemaBackend) migrate(ctx context.Context, tenant string) error {
	pr := b.pr
	return pr.inTransaction(ctx, tenant, func(tx *gorm.DB) error {
		if st, err := pr.reg.status(tx, tenant); err != nil {
			return err
		} else if st != statusReady {
			return ErrTenantNotFound
		}
		if err := b.migrateIn(tx, tenant); err != nil {
			return err
		}
		return pr.reg.migrated(tx, tenant)
	})
}

// migrateIn runs AutoMigrate of the tenant models with the tenant's schema
// alone on the transaction's search_path, so GORM's migrator creates and
// inspects tables there.
func (b postgresSchemaBackend) migrateIn(tx *gorm.DB, tenant string) error {
	e := b.pr.p.engine
	if err := tx.Exec(e.SetLocalSearchPath(), e.QuoteIdent(tenant)).Error; err != nil {
		return err
	}
	return tx.AutoMigrate(b.pr.p.tables.models...)
}

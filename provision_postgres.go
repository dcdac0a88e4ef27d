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
// first on the transaction's search_path, so GORM's migrator creates and
// inspects tables there, and the global schema second, so types, domains and
// extensions installed there resolve.
func (b postgresSchemaBackend) migrateIn(tx *gorm.DB, tenant string) error {
	p := b.pr.p
	path := p.engine.QuoteIdent(tenant) + ", " + p.engine.QuoteIdent(p.global)
	if err := tx.Exec(p.engine.SetLocalSearchPath(), path).Error; err != nil {
		return err
	}
	mdb, err := p.migrationDB(b.pr.db, tx.Statement.ConnPool, tenant)
	if err != nil {
		return err
	}
	return mdb.WithContext(tx.Statement.Context).AutoMigrate(p.tables.models...)
}

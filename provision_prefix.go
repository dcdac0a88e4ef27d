package kirayedar

import (
	"context"
	"strings"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar/dialect"
)

// prefixBackend provisions a tenant as prefixed tables in the global schema,
// on any engine. On PostgreSQL and SQLite, whose DDL is transactional, each
// operation is one transaction. On MySQL it runs on a pinned connection under
// the tenant's named lock and is compensated like mysqlSchemaBackend: the
// tables this call created are dropped on failure.
type prefixBackend struct{ pr *Provisioner }

func (b prefixBackend) transactional() bool { return b.pr.p.engine != dialect.MySQL }

// do runs fn in a transaction or on a pinned connection, as the engine needs.
func (b prefixBackend) do(ctx context.Context, tenant string, fn func(db *gorm.DB) error) error {
	if b.transactional() {
		return b.pr.inTransaction(ctx, tenant, fn)
	}
	return b.pr.onPinnedConn(ctx, tenant, fn)
}

func (b prefixBackend) create(ctx context.Context, tenant string) error {
	pr := b.pr
	precheck := func(db *gorm.DB) error {
		existing, err := b.existingTables(db, tenant)
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			return existsError("table " + strings.Join(existing, ", "))
		}
		return nil
	}
	if !b.transactional() {
		// precheck found none of the tenant's tables, so every one of them
		// is this call's (or, stale, a dead call's) to drop.
		return pr.compensatedCreate(ctx, tenant, createSteps{
			precheck: precheck,
			build:    func(conn *gorm.DB) error { return b.migrateIn(conn, tenant) },
			undo:     func(conn *gorm.DB, _ bool) error { return b.dropTables(conn, tenant) },
		})
	}
	return pr.inTransaction(ctx, tenant, func(tx *gorm.DB) error {
		if st, err := pr.reg.status(tx, tenant); err != nil {
			return err
		} else if st != "" {
			return ErrTenantExists
		}
		if err := precheck(tx); err != nil {
			return err
		}
		if err := b.migrateIn(tx, tenant); err != nil {
			return err
		}
		return pr.reg.insert(tx, tenant, statusReady)
	})
}

func (b prefixBackend) drop(ctx context.Context, tenant string) error {
	pr := b.pr
	return b.do(ctx, tenant, func(db *gorm.DB) error {
		if st, err := pr.reg.status(db, tenant); err != nil {
			return err
		} else if st == "" {
			return ErrTenantNotFound
		}
		if err := b.dropTables(db, tenant); err != nil {
			return err
		}
		return pr.reg.remove(db, tenant)
	})
}

func (b prefixBackend) migrate(ctx context.Context, tenant string) error {
	pr := b.pr
	return b.do(ctx, tenant, func(db *gorm.DB) error {
		if st, err := pr.reg.status(db, tenant); err != nil {
			return err
		} else if st != statusReady {
			return ErrTenantNotFound
		}
		if err := b.migrateIn(db, tenant); err != nil {
			return err
		}
		return pr.reg.migrated(db, tenant)
	})
}

// migrateIn runs AutoMigrate of the tenant models under their prefixed names,
// in the global schema, on db's connection or transaction.
func (b prefixBackend) migrateIn(db *gorm.DB, tenant string) error {
	p := b.pr.p
	migrate := func() error {
		mdb, err := p.migrationDB(b.pr.db, db.Statement.ConnPool, tenant)
		if err != nil {
			return err
		}
		return mdb.WithContext(db.Statement.Context).AutoMigrate(p.tables.models...)
	}
	switch p.engine {
	case dialect.Postgres:
		if err := db.Exec(p.engine.SetLocalSearchPath(), p.engine.QuoteIdent(p.global)).Error; err != nil {
			return err
		}
	case dialect.MySQL:
		return useDatabase(db, p.engine, p.global, migrate)
	}
	return migrate()
}

// physicalTables lists the tenant's tables, each before the tables it
// references.
func (b prefixBackend) physicalTables(tenant string) []string {
	p := b.pr.p
	order := p.tables.snapshot().dropOrder
	names := make([]string, len(order))
	for i, t := range order {
		names[i] = tenant + p.cfg.PrefixSeparator + t
	}
	return names
}

func (b prefixBackend) existingTables(db *gorm.DB, tenant string) ([]string, error) {
	var names []string
	err := db.Raw(b.pr.p.engine.ExistingTables(), b.pr.p.global, b.physicalTables(tenant)).Scan(&names).Error
	return names, err
}

func (b prefixBackend) dropTables(db *gorm.DB, tenant string) error {
	for _, stmt := range b.pr.p.engine.DropTables(b.pr.p.global, b.physicalTables(tenant)) {
		if err := db.Exec(stmt).Error; err != nil {
			return err
		}
	}
	return nil
}

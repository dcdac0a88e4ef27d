package kirayedar

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar/dialect"
)

// mysqlSchemaBackend provisions a MySQL/MariaDB database per tenant. MySQL
// commits DDL on its own, so Create is compensated instead of atomic: the
// registry row is written as "provisioning" first, and on failure the
// database this call created is dropped and the row removed. A process that
// dies half-way leaves the row, and the next Create for the tenant cleans up.
//
// GORM's MySQL migrator inspects the connection's current database whatever
// table name it is given, so migrations run on a pinned connection switched to
// the tenant's database with USE and switched back before it is released (or
// closed, if switching back failed).
type mysqlSchemaBackend struct{ pr *Provisioner }

func (b mysqlSchemaBackend) create(ctx context.Context, tenant string) error {
	pr := b.pr
	e := pr.p.engine
	return pr.onPinnedConn(ctx, tenant, func(conn *gorm.DB) error {
		st, err := pr.reg.status(conn, tenant)
		switch {
		case err != nil:
			return err
		case st == statusReady:
			return ErrTenantExists
		case st == statusProvisioning: // an earlier Create died; we hold its lock now
			if err := conn.Exec(e.DropSchema(tenant)).Error; err != nil {
				return fmt.Errorf("cleaning up an interrupted create: %w", err)
			}
			if err := pr.reg.remove(conn, tenant); err != nil {
				return err
			}
		}
		var n int64
		if err := conn.Raw(e.SchemaExists(), tenant).Scan(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return existsError("database " + e.QuoteIdent(tenant))
		}
		if err := pr.reg.insert(conn, tenant, statusProvisioning); err != nil {
			return err
		}
		if err := conn.Exec(e.CreateSchema(tenant)).Error; err != nil {
			return compensate(err, pr.reg.remove(conn, tenant))
		}
		if err := b.migrateIn(conn, tenant); err != nil {
			return compensate(err, conn.Exec(e.DropSchema(tenant)).Error, pr.reg.remove(conn, tenant))
		}
		if err := pr.reg.migrated(conn, tenant); err != nil {
			return compensate(err, conn.Exec(e.DropSchema(tenant)).Error, pr.reg.remove(conn, tenant))
		}
		return nil
	})
}

func (b mysqlSchemaBackend) drop(ctx context.Context, tenant string) error {
	pr := b.pr
	return pr.onPinnedConn(ctx, tenant, func(conn *gorm.DB) error {
		if st, err := pr.reg.status(conn, tenant); err != nil {
			return err
		} else if st == "" {
			return ErrTenantNotFound
		}
		if err := conn.Exec(pr.p.engine.DropSchema(tenant)).Error; err != nil {
			return err
		}
		return pr.reg.remove(conn, tenant)
	})
}

func (b mysqlSchemaBackend) migrate(ctx context.Context, tenant string) error {
	pr := b.pr
	return pr.onPinnedConn(ctx, tenant, func(conn *gorm.DB) error {
		if st, err := pr.reg.status(conn, tenant); err != nil {
			return err
		} else if st != statusReady {
			return ErrTenantNotFound
		}
		if err := b.migrateIn(conn, tenant); err != nil {
			return err
		}
		return pr.reg.migrated(conn, tenant)
	})
}

// migrateIn runs AutoMigrate with the tenant's database current on conn,
// then makes the connection's previous database current again.
func (b mysqlSchemaBackend) migrateIn(conn *gorm.DB, tenant string) error {
	return useDatabase(conn, b.pr.p.engine, tenant, func() error {
		return conn.AutoMigrate(b.pr.p.tables.models...)
	})
}

// useDatabase runs fn with name as conn's current database and restores the
// previous one afterwards. If restoring fails the error says so, and the
// caller's pinned connection is closed rather than pooled.
func useDatabase(conn *gorm.DB, e dialect.Engine, name string, fn func() error) error {
	var previous *string
	if err := conn.Raw("SELECT DATABASE()").Scan(&previous).Error; err != nil {
		return err
	}
	if previous == nil {
		return fmt.Errorf("the connection has no current database to return to")
	}
	if *previous == name {
		return fn()
	}
	if err := conn.Exec(e.Use(name)).Error; err != nil {
		return err
	}
	fnErr := fn()
	if err := conn.Exec(e.Use(*previous)).Error; err != nil {
		return compensate(fnErr, fmt.Errorf("switching back to %s: %w", *previous, err))
	}
	return fnErr
}

package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar/dialect"
)

// prefixBackend provisions a tenant as prefixed tables in the global schema,
// on any engine. On PostgreSQL and SQLite, whose DDL is transactional, each
// operation is one transaction. On MySQL it runs on a pinned connection under
// the tenants' named locks and is compensated like mysqlSchemaBackend: the
// tables this call created are dropped on failure.
//
// Prefixed tables carry the tenant in more names than their own (index and
// constraint names, PostgreSQL sequences), which no engine renames with the
// table, so a Create replays no recorded DDL here (every tenant's differs;
// it still skips AutoMigrate's catalog queries) and a Rename copies the rows
// into freshly created tables.
type prefixBackend struct{ pr *Provisioner }

func (b prefixBackend) transactional() bool { return b.pr.cfg.Engine != dialect.MySQL }

// do runs fn in a transaction or on a pinned connection, as the engine needs.
func (b prefixBackend) do(ctx context.Context, tenants []string, fn func(db *gorm.DB) error) error {
	if b.transactional() {
		return b.pr.inTransaction(ctx, tenants, fn)
	}
	return b.pr.onPinnedConn(ctx, tenants, fn)
}

// absent refuses tables of the tenant that exist already.
func (b prefixBackend) absent(db *gorm.DB, tenant string) error {
	existing, err := b.existingTables(db, tenant)
	if err != nil {
		return err
	}
	if len(existing) > 0 {
		return existsError("table " + strings.Join(existing, ", "))
	}
	return nil
}

func (b prefixBackend) create(ctx context.Context, tenant string) error {
	pr := b.pr
	if !b.transactional() {
		// absent found none of the tenant's tables, so every one of them
		// is this call's (or, stale, a dead call's) to drop.
		return pr.compensatedCreate(ctx, tenant, createSteps{
			precheck: func(conn *gorm.DB) error { return b.absent(conn, tenant) },
			build:    func(conn *gorm.DB, _ string) error { return b.createIn(conn, tenant) },
			undo:     func(conn *gorm.DB, _ bool) error { return b.dropTables(conn, tenant) },
		})
	}
	fingerprint := pr.cfg.Fingerprint()
	err := pr.inTransaction(ctx, []string{tenant}, func(tx *gorm.DB) error {
		if err := pr.reg.requireAbsent(tx, tenant); err != nil {
			return err
		}
		if err := b.absent(tx, tenant); err != nil {
			return err
		}
		if err := b.createIn(tx, tenant); err != nil {
			return err
		}
		return pr.reg.insert(tx, tenant, fingerprint)
	})
	return pr.settle(ctx, err, tenant, isReady)
}

func (b prefixBackend) drop(ctx context.Context, tenant string) error {
	pr := b.pr
	err := b.do(ctx, []string{tenant}, func(db *gorm.DB) error {
		if err := pr.reg.requirePresent(db, tenant); err != nil {
			return err
		}
		if err := b.dropTables(db, tenant); err != nil {
			return err
		}
		return pr.reg.remove(db, tenant)
	})
	return pr.settle(ctx, err, tenant, isGone)
}

func (b prefixBackend) migrate(ctx context.Context, tenant string, job migration) (status Status, err error) {
	err = b.do(ctx, []string{tenant}, func(db *gorm.DB) (err error) {
		status, err = b.pr.migrateLocked(db, tenant, job, b.enter)
		return err
	})
	return status, err
}

// rename creates the new tenant's tables as Create would, copies every row
// across (parents first), and drops the old tables: in one transaction on
// PostgreSQL and SQLite, where the old tables are locked against writes
// first; compensated on MySQL, where writes to the tenant during the rename
// must be stopped by the application. It takes time in proportion to the
// tenant's rows. It refuses a tenant that is not at the models' fingerprint
// (the new tables would follow other models) and one whose tables have
// columns the models do not (their values would be lost), before it changes
// anything.
func (b prefixBackend) rename(ctx context.Context, from, to string) error {
	pr := b.pr
	fingerprint := pr.cfg.Fingerprint()
	return b.do(ctx, []string{from, to}, func(db *gorm.DB) error {
		if err := pr.renameChecks(db, from, to); err != nil {
			return err
		}
		if row, _, err := pr.reg.row(db, from); err != nil {
			return err
		} else if row.migratedTo() != fingerprint {
			return fmt.Errorf("tenant %s is not migrated to these models (fingerprint %q, the models' %q): migrate it first, or rename it from a process with its models", from, row.migratedTo(), fingerprint)
		}
		if err := b.absent(db, to); err != nil {
			return err
		}
		if pr.cfg.Engine == dialect.Postgres {
			if err := db.Exec("LOCK TABLE " + strings.Join(b.quoted(from), ", ") + " IN EXCLUSIVE MODE").Error; err != nil {
				return err
			}
		}
		err := b.createIn(db, to)
		if err == nil {
			err = b.copyRows(db, from, to)
		}
		if err == nil {
			err = pr.reg.rename(db, from, to)
		}
		if err != nil {
			if b.transactional() {
				return err // the transaction rolls back
			}
			// Nothing of from has been touched yet.
			detached, cancel := pr.detached(ctx, db)
			defer cancel()
			return compensate(err, b.dropTables(detached, to))
		}
		if err := b.dropTables(db, from); err != nil {
			if b.transactional() {
				return err
			}
			return fmt.Errorf("renamed, but dropping the old tables failed (the rows are in %s; drop the old ones by hand): %w", to, err)
		}
		return nil
	})
}

// copyRows copies every table's rows from one tenant to the other, parents
// before children, and moves PostgreSQL's sequences past the copied keys.
// It first checks every table, and refuses source columns the new tables
// lack.
func (b prefixBackend) copyRows(db *gorm.DB, from, to string) (err error) {
	e := b.pr.cfg.Engine
	src, dst := b.quoted(from), b.quoted(to)
	lists := make([]string, len(src))
	for i := range src {
		cols, missing, err := sharedColumns(db, e, src[i], dst[i])
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s has columns the tenant models lack (%s), whose values a rename would lose: drop them by hand first", src[i], strings.Join(missing, ", "))
		}
		lists[i] = strings.Join(cols, ", ")
	}
	if e == dialect.MySQL {
		// MySQL checks foreign keys row by row, so a table referencing
		// itself would fail on a child copied before its parent. The
		// connection is pinned, and closed if switching back fails.
		if err := db.Exec("SET SESSION foreign_key_checks = 0").Error; err != nil {
			return err
		}
		defer func() {
			if rerr := db.Exec("SET SESSION foreign_key_checks = 1").Error; rerr != nil && err == nil {
				err = rerr
			}
		}()
	}
	for i := len(src) - 1; i >= 0; i-- {
		if err := db.Exec("INSERT INTO " + dst[i] + " (" + lists[i] + ") SELECT " + lists[i] + " FROM " + src[i]).Error; err != nil {
			return fmt.Errorf("copying %s: %w", src[i], err)
		}
		if e == dialect.Postgres {
			if err := resetSequences(db, e, dst[i]); err != nil {
				return fmt.Errorf("moving the sequences of %s: %w", dst[i], err)
			}
		}
	}
	return nil
}

// resetSequences moves every sequence owned by a column of the PostgreSQL
// table (quoted) past the column's largest value.
func resetSequences(db *gorm.DB, e dialect.Engine, table string) error {
	var cols []string
	err := db.Raw(`SELECT a.attname FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = ?::regclass AND a.attnum > 0 AND NOT a.attisdropped
		AND pg_get_serial_sequence(?, a.attname) IS NOT NULL`, table, table).Scan(&cols).Error
	if err != nil {
		return err
	}
	for _, c := range cols {
		err := db.Exec("SELECT setval(pg_get_serial_sequence(?, ?), COALESCE((SELECT MAX("+e.QuoteIdent(c)+") FROM "+table+"), 0) + 1, false)", table, c).Error
		if err != nil {
			return err
		}
	}
	return nil
}

// sharedColumns returns, quoted, the columns of dst that src has too, and
// the columns of src that dst lacks.
func sharedColumns(db *gorm.DB, e dialect.Engine, src, dst string) (shared, missing []string, err error) {
	columnsOf := func(table string) ([]string, error) {
		rows, err := db.Raw("SELECT * FROM " + table + " WHERE 1 = 0").Rows()
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		return rows.Columns()
	}
	have, err := columnsOf(src)
	if err != nil {
		return nil, nil, err
	}
	want, err := columnsOf(dst)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range want {
		if slices.Contains(have, c) {
			shared = append(shared, e.QuoteIdent(c))
		}
	}
	for _, c := range have {
		if !slices.Contains(want, c) {
			missing = append(missing, c)
		}
	}
	return shared, missing, nil
}

// createIn creates the tables of a tenant that has none under their prefixed
// names, in the global schema, on db's connection or transaction.
func (b prefixBackend) createIn(db *gorm.DB, tenant string) error {
	return b.enter(db, tenant, func() error {
		return b.pr.createTablesOn(db.Statement.Context, tenant)(db.Statement.ConnPool)
	})
}

// enter runs fn with the global schema current on db (search_path on
// PostgreSQL, the current database on MySQL), where prefixed tables live.
func (b prefixBackend) enter(db *gorm.DB, _ string, fn func() error) error {
	p := &b.pr.cfg
	switch p.Engine {
	case dialect.Postgres:
		if err := db.Exec(p.Engine.SetLocalSearchPath(), p.Engine.QuoteIdent(p.Global)+", pg_temp").Error; err != nil {
			return err
		}
	case dialect.MySQL:
		return useDatabase(db, p.Engine, p.Global, fn)
	}
	return fn()
}

// physicalTables lists the tenant's tables, each before the tables it
// references.
func (b prefixBackend) physicalTables(tenant string) []string {
	p := &b.pr.cfg
	order := p.Models.DropOrder()
	names := make([]string, len(order))
	for i, t := range order {
		names[i] = tenant + p.PrefixSeparator + t
	}
	return names
}

// quoted lists the tenant's tables as physicalTables does, quoted and
// qualified for SQL.
func (b prefixBackend) quoted(tenant string) []string {
	p := &b.pr.cfg
	names := b.physicalTables(tenant)
	for i, n := range names {
		names[i] = p.Engine.RegistryName(p.Global, n)
	}
	return names
}

func (b prefixBackend) existingTables(db *gorm.DB, tenant string) ([]string, error) {
	var names []string
	err := db.Raw(b.pr.cfg.Engine.ExistingTables(), b.pr.cfg.Global, b.physicalTables(tenant)).Scan(&names).Error
	return names, err
}

func (b prefixBackend) dropTables(db *gorm.DB, tenant string) error {
	for _, stmt := range b.pr.cfg.Engine.DropTables(b.pr.cfg.Global, b.physicalTables(tenant)) {
		if err := db.Exec(stmt).Error; err != nil {
			return err
		}
	}
	return nil
}

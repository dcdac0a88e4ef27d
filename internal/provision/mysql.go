package provision

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

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
	e := pr.cfg.Engine
	created := false // drop only a database this call created
	return pr.compensatedCreate(ctx, tenant, createSteps{
		precheck: func(conn *gorm.DB) error {
			return b.absent(conn, tenant)
		},
		build: func(conn *gorm.DB, fingerprint string) error {
			// precheck found no such database under our lock, so one that
			// exists after this statement is ours, even if the statement's
			// outcome is unknown; unless MySQL says it existed (error 1007),
			// which means someone outside Kirayedar made it meanwhile.
			err := conn.Exec(e.CreateSchema(tenant)).Error
			created = err == nil || !strings.Contains(err.Error(), "1007")
			if err != nil {
				return err
			}
			return useDatabase(conn, e, tenant, func() error {
				return pr.buildTenant(conn, tenant, fingerprint)
			})
		},
		undo: func(conn *gorm.DB, stale bool) error {
			if !created && !stale {
				return nil
			}
			return conn.Exec(e.DropSchema(tenant)).Error
		},
	})
}

// absent refuses a database of the tenant's name that exists already.
func (b mysqlSchemaBackend) absent(conn *gorm.DB, tenant string) error {
	e := b.pr.cfg.Engine
	var n int64
	if err := conn.Raw(e.SchemaExists(), tenant).Scan(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return existsError("database " + e.QuoteIdent(tenant))
	}
	return nil
}

func (b mysqlSchemaBackend) drop(ctx context.Context, tenant string) error {
	pr := b.pr
	return pr.onPinnedConn(ctx, []string{tenant}, func(conn *gorm.DB) error {
		if err := pr.reg.requirePresent(conn, tenant); err != nil {
			return err
		}
		if err := conn.Exec(pr.cfg.Engine.DropSchema(tenant)).Error; err != nil {
			return err
		}
		return pr.reg.remove(conn, tenant)
	})
}

func (b mysqlSchemaBackend) migrate(ctx context.Context, tenant string, job migration) (status Status, err error) {
	pr := b.pr
	err = pr.onPinnedConn(ctx, []string{tenant}, func(conn *gorm.DB) (err error) {
		status, err = pr.migrateLocked(conn, tenant, job, func(conn *gorm.DB, tenant string, fn func() error) error {
			return useDatabase(conn, pr.cfg.Engine, tenant, fn)
		})
		return err
	})
	return status, err
}

// rename moves every table of the tenant's database into a new database,
// with one atomic RENAME TABLE, then drops the emptied old one. The registry
// row is marked "renaming" while the tables move, so a process that dies
// half-way leaves a tenant that Exists reports missing rather than empty,
// and the same Rename called again finishes or redoes it. A
// failure is undone: the tables go back, and the new database, once empty,
// is dropped; if they cannot go back, they stay in the new database, the row
// stays "renaming", and the error says where they are. RENAME TABLE cannot
// move views, triggers, routines or events: a database holding any is
// refused before anything changes.
func (b mysqlSchemaBackend) rename(ctx context.Context, from, to string) error {
	pr := b.pr
	e := pr.cfg.Engine
	return pr.onPinnedConn(ctx, []string{from, to}, func(conn *gorm.DB) error {
		row, _, err := pr.reg.row(conn, from)
		if err != nil {
			return err
		}
		if row.Status == statusRenaming {
			if done, err := b.resumeRename(conn, row, to); done || err != nil {
				return err
			}
		}
		if err := pr.renameChecks(conn, from, to); err != nil {
			return err
		}
		if err := b.absent(conn, to); err != nil {
			return err
		}
		var tables []schemaTable
		if err := conn.Raw(e.SchemaTables(), from).Scan(&tables).Error; err != nil {
			return err
		}
		names := make([]string, 0, len(tables))
		for _, t := range tables {
			if t.TableType != "BASE TABLE" {
				return fmt.Errorf("database %s holds %s %s, which RENAME TABLE cannot move; move it by hand first", e.QuoteIdent(from), strings.ToLower(t.TableType), e.QuoteIdent(t.TableName))
			}
			names = append(names, t.TableName)
		}
		var others int64
		if err := conn.Raw(e.SchemaRoutines(), from, from, from).Scan(&others).Error; err != nil {
			return err
		}
		if others > 0 {
			return fmt.Errorf("database %s holds triggers, routines or events, which RENAME TABLE cannot move; move them by hand first", e.QuoteIdent(from))
		}
		var charset schemaCharset
		if err := conn.Raw(e.SchemaCharset(), from).Scan(&charset).Error; err != nil {
			return err
		}
		// Marked first, with its target, so that a process dying from here
		// on leaves what the same Rename can finish or redo.
		if err := pr.reg.markRenaming(conn, from, to); err != nil {
			return err
		}
		moved := false
		err = conn.Exec(e.CreateSchemaLike(to, charset.CharacterSet, charset.Collation)).Error
		// absent found no such database under our locks, so one there now
		// is ours, unless MySQL says it existed (1007): someone else's.
		created := err == nil || !strings.Contains(err.Error(), "1007")
		if err == nil && len(names) > 0 {
			err = conn.Exec(e.MoveTables(from, to, names)).Error
			moved = err == nil
		}
		if err == nil {
			err = pr.reg.finishRename(conn, from, to, row.migratedTo())
		}
		if err != nil {
			detached, cancel := pr.detached(ctx, conn)
			defer cancel()
			return compensate(err, b.undoRename(detached, from, to, names, moved, created, row.migratedTo()))
		}
		if err := conn.Exec(e.DropSchema(from)).Error; err != nil {
			return fmt.Errorf("renamed, but dropping the emptied database %s failed: %w", e.QuoteIdent(from), err)
		}
		return nil
	})
}

// resumeRename finishes, or undoes, a rename cut off (its row still
// "renaming"), as the tables' place tells: all moved to the recorded target,
// it is finished (done); none moved, it is undone, and the caller starts the
// rename over. A call naming another target than the one recorded, tables in
// both databases, or in neither, are refused, with an error saying where
// things are.
func (b mysqlSchemaBackend) resumeRename(conn *gorm.DB, row registryRow, to string) (done bool, err error) {
	e := b.pr.cfg.Engine
	from := row.ID
	if recorded := row.renameTarget(); recorded != to {
		return false, fmt.Errorf("a rename of %s to %q was cut off; call Rename(%s, %s) to finish or undo it", from, recorded, from, recorded)
	}
	var left, moved []schemaTable
	if err := conn.Raw(e.SchemaTables(), from).Scan(&left).Error; err != nil {
		return false, err
	}
	if err := conn.Raw(e.SchemaTables(), to).Scan(&moved).Error; err != nil {
		return false, err
	}
	switch {
	case len(left) == 0 && len(moved) > 0:
		if err := b.pr.reg.finishRename(conn, from, to, ""); err != nil {
			return false, err
		}
		if err := conn.Exec(e.DropSchema(from)).Error; err != nil {
			return true, fmt.Errorf("renamed, but dropping the emptied database %s failed: %w", e.QuoteIdent(from), err)
		}
		return true, nil
	case len(left) > 0 && len(moved) == 0:
		// to was absent when the rename was marked, under the same locks.
		return false, b.undoRename(conn, from, to, nil, false, true, "")
	}
	return false, fmt.Errorf("a rename of %s was cut off: database %s holds %d tables and %s holds %d; move them into one by hand, then rename again",
		from, e.QuoteIdent(from), len(left), e.QuoteIdent(to), len(moved))
}

// undoRename puts a failed rename back: the tables into the old database if
// they moved, then the new database, if the rename created it, dropped once
// it is empty, then the registry row ready again. Tables that cannot move
// back stay where they are, with the row still "renaming".
func (b mysqlSchemaBackend) undoRename(conn *gorm.DB, from, to string, names []string, moved, created bool, fingerprint string) error {
	e := b.pr.cfg.Engine
	if moved {
		if err := conn.Exec(e.MoveTables(to, from, names)).Error; err != nil {
			return fmt.Errorf("the tables are in database %s and could not move back (the registry still marks %s as renaming): %w", e.QuoteIdent(to), from, err)
		}
	}
	if !created {
		return b.pr.reg.restoreReady(conn, from, fingerprint)
	}
	var left []schemaTable
	if err := conn.Raw(e.SchemaTables(), to).Scan(&left).Error; err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("database %s is not empty after undoing the rename; left in place", e.QuoteIdent(to))
	}
	if err := conn.Exec(e.DropSchema(to)).Error; err != nil {
		return err
	}
	return b.pr.reg.restoreReady(conn, from, fingerprint)
}

// schemaTable and schemaCharset are rows of the MySQL catalog queries.
type schemaTable struct{ TableName, TableType string }

type schemaCharset struct{ CharacterSet, Collation string }

// createSteps are what a Create does on MySQL, where DDL commits on its own.
type createSteps struct {
	// precheck refuses what is in the way (ErrTenantExists).
	precheck func(conn *gorm.DB) error
	// build creates the tenant's tables, migrated to fingerprint.
	build func(conn *gorm.DB, fingerprint string) error
	// undo drops what build made. stale is set when it cleans up after an
	// earlier Create that died, whose progress is unknown.
	undo func(conn *gorm.DB, stale bool) error
}

// compensatedCreate runs a Create on MySQL on a pinned connection under the
// tenant's named lock. The registry row is written as "provisioning" first,
// carrying this attempt's random token; on failure undo runs on the same
// connection, detached from the caller's context (whose end may be why it
// failed), and if that connection is gone, again under the lock on a fresh
// one, as long as the registry row is still this attempt's. A row left by a
// process that died is cleaned up by the next Create.
func (pr *Provisioner) compensatedCreate(ctx context.Context, tenant string, s createSteps) error {
	attempt := newAttempt()
	fingerprint := pr.cfg.Fingerprint()
	undoLater := false
	err := pr.onPinnedConn(ctx, []string{tenant}, func(conn *gorm.DB) error {
		st, err := pr.reg.status(conn, tenant)
		switch {
		case err != nil:
			return err
		case st == statusReady:
			return ErrTenantExists
		case st == statusProvisioning: // an earlier Create died; we hold its lock now
			if err := s.undo(conn, true); err != nil {
				return fmt.Errorf("cleaning up an interrupted create: %w", err)
			}
			if err := pr.reg.remove(conn, tenant); err != nil {
				return err
			}
		}
		if err := s.precheck(conn); err != nil {
			return err
		}
		// From here on a failure may leave something behind, even one
		// reported for a statement whose outcome is unknown (the context
		// ended while it ran): undo looks at what is there.
		err = pr.reg.insertAttempt(conn, tenant, attempt)
		if err == nil {
			err = s.build(conn, fingerprint)
		}
		if err == nil {
			err = pr.reg.migrated(conn, tenant, fingerprint+"/"+attempt)
		}
		if err == nil {
			return nil
		}
		detached, cancel := pr.detached(ctx, conn)
		defer cancel()
		done, uerr := pr.undoAttempt(detached, tenant, attempt, s.undo)
		switch {
		case uerr != nil:
			undoLater = true
			return compensate(err, uerr)
		case done:
			return nil // the last step went through; only its answer was lost
		}
		return err
	})
	if undoLater {
		uctx, cancel := context.WithTimeout(freshLockBudget(context.WithoutCancel(ctx)), undoTimeout)
		defer cancel()
		var done bool
		uerr := pr.onPinnedConn(uctx, []string{tenant}, func(conn *gorm.DB) (uerr error) {
			done, uerr = pr.undoAttempt(conn, tenant, attempt, s.undo)
			return uerr
		})
		switch {
		case uerr != nil:
			return compensate(err, fmt.Errorf("undoing on a fresh connection: %w", uerr))
		case done:
			return nil
		}
	}
	return err
}

// undoAttempt looks at what a failed Create of this attempt left: if its
// registry row is ready, the Create went through and only the answer to its
// last statement was lost (done); if the row is still this attempt's
// "provisioning" row, undo runs and the row goes; otherwise someone else has
// taken over since, and nothing is touched.
func (pr *Provisioner) undoAttempt(conn *gorm.DB, tenant, attempt string, undo func(*gorm.DB, bool) error) (done bool, err error) {
	st, err := pr.reg.attemptStatus(conn, tenant, attempt)
	switch {
	case err != nil:
		return false, err
	case st == statusReady:
		return true, nil
	case st != statusProvisioning:
		return false, nil
	}
	if err := undo(conn, false); err != nil {
		return false, err
	}
	return false, pr.reg.remove(conn, tenant)
}

// newAttempt returns a token that tells one Create's registry row from
// another's.
func newAttempt() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// detached returns conn's session on a context that outlives the caller's,
// bounded by undoTimeout.
func (pr *Provisioner) detached(ctx context.Context, conn *gorm.DB) (*gorm.DB, context.CancelFunc) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	return conn.WithContext(pr.cfg.AsWritten(dctx)), cancel
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

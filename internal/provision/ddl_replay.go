package provision

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar/dialect"
)

// GORM's AutoMigrate looks up each table, column and index in the catalog
// before it sends any DDL, and those lookups slow down as the catalog grows
// with every tenant. A new tenant has no tables, so Create skips them: it
// runs GORM's CreateTable for each model in AutoMigrate's order, which is
// what AutoMigrate sends into an empty schema. Under StrategySchema that DDL
// names no schema (the tenant's is current), so it is the same for every
// tenant: the first Create in the process records it, on the transaction or
// connection that runs it, and the next ones replay it, in one round trip on
// PostgreSQL and one per statement on MySQL.
//
// Migrations are recorded the same way, keyed by what the tenant's tables
// look like before the migration and the fingerprint they go to. The first
// is a hash of the catalog AutoMigrate looks at, read with one query: every
// relation of the tenant's schema named as a table of the models, whatever
// its kind (a view in the way counts), with its columns (type, nullability,
// default), indexes and constraints. AutoMigrate decides what to send from
// that catalog and the models alone, so tenants with the same catalog get
// the same DDL: when the models change, the first tenant migrates with
// AutoMigrate and the others replay its DDL (an added column and index: two
// statements instead of a catalog walk). A tenant whose tables were changed
// by hand, or left half-migrated by a failure, has a catalog of its own and
// migrates with AutoMigrate. On PostgreSQL a replay runs inside a savepoint;
// one that fails anyway is undone and the tenant migrates with AutoMigrate.
// Force and DisableDDLReplay always use AutoMigrate.

// ddlCache holds recorded DDL by transition: "create>" + fingerprint for a
// new tenant, catalog hash + ">" + fingerprint for a migration. One caller
// at a time records a key; the others wait for its recording rather than
// all running AutoMigrate at once, whose catalog queries would compete for
// the server.
type ddlCache struct {
	mu        sync.Mutex
	recorded  map[string]*tenantDDL
	recording map[string]chan struct{}
}

// acquire returns the DDL recorded under key, or, when there is none, nil and
// a function that the caller, now the key's recorder, must call once it has
// stored its recording or given up. It waits while another caller records
// the key.
func (c *ddlCache) acquire(ctx context.Context, key string) (*tenantDDL, func(), error) {
	for {
		c.mu.Lock()
		if d := c.recorded[key]; d != nil {
			c.mu.Unlock()
			return d, nil, nil
		}
		wait, busy := c.recording[key]
		if !busy {
			if c.recording == nil {
				c.recording = map[string]chan struct{}{}
			}
			done := make(chan struct{})
			c.recording[key] = done
			c.mu.Unlock()
			return nil, func() {
				c.mu.Lock()
				delete(c.recording, key)
				c.mu.Unlock()
				close(done)
			}, nil
		}
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

func (c *ddlCache) store(key string, d *tenantDDL) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recorded == nil {
		c.recorded = map[string]*tenantDDL{}
	}
	c.recorded[key] = d
}

// tenantDDL is recorded DDL.
type tenantDDL struct {
	stmts []capturedStmt
}

type capturedStmt struct {
	sql  string
	args []any
}

// replay sends the DDL on pool. Statements without arguments go together,
// in one round trip, where the engine takes several statements at once.
func (d *tenantDDL) replay(ctx context.Context, pool gorm.ConnPool, e dialect.Engine) error {
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := pool.ExecContext(ctx, strings.Join(batch, ";\n"))
		batch = batch[:0]
		return err
	}
	for _, s := range d.stmts {
		if len(s.args) == 0 && e == dialect.Postgres {
			batch = append(batch, s.sql)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if _, err := pool.ExecContext(ctx, s.sql, s.args...); err != nil {
			return err
		}
	}
	return flush()
}

// ddlRecorder is a connection pool that records the statements executed on
// it successfully.
type ddlRecorder struct {
	gorm.ConnPool
	mu    sync.Mutex
	stmts []capturedStmt
}

func (r *ddlRecorder) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := r.ConnPool.ExecContext(ctx, query, args...)
	if err == nil {
		r.mu.Lock()
		r.stmts = append(r.stmts, capturedStmt{sql: query, args: args})
		r.mu.Unlock()
	}
	return res, err
}

// namesSchema reports whether any recorded statement names the tenant's
// schema, quoted or not, or takes arguments that do.
func (r *ddlRecorder) namesSchema(e dialect.Engine, tenant string) bool {
	for _, st := range r.stmts {
		if strings.Contains(st.sql, e.QuoteIdent(tenant)+".") || strings.Contains(st.sql, tenant+".") {
			return true
		}
		for _, a := range st.args {
			if s, ok := a.(string); ok && strings.Contains(s, tenant) {
				return true
			}
		}
	}
	return false
}

// buildTenant creates the tenant models' tables in an empty tenant, on db's
// transaction or pinned connection, set up by the caller so that
// unqualified names land in the tenant (search_path or current database).
// An empty schema is the same for every tenant, so its DDL is keyed by the
// fingerprint alone.
func (pr *Provisioner) buildTenant(db *gorm.DB, tenant, fingerprint string) error {
	return pr.replayOrRecord(db, tenant, "create>"+fingerprint, pr.createTablesOn, false)
}

// upgradeTenant migrates a tenant to job's fingerprint, as buildTenant
// does, keyed by the tenant's catalog as it is now.
func (pr *Provisioner) upgradeTenant(db *gorm.DB, tenant string, job migration) error {
	if job.force || !pr.replayable() {
		return pr.autoMigrateOn(db.Statement.Context, tenant)(unprepared(db.Statement.ConnPool))
	}
	state, err := pr.catalogState(db, tenant)
	if err != nil {
		return fmt.Errorf("reading the catalog of the tenant's tables: %w", err)
	}
	return pr.replayOrRecord(db, tenant, state+">"+job.fingerprint, pr.autoMigrateOn, true)
}

func (pr *Provisioner) replayable() bool {
	return !pr.cfg.Prefixed && !*pr.cfg.DisableDDLReplay
}

// catalogState hashes the catalog of the tenant's tables: every relation in
// its schema or database named as a table of the tenant models, which is
// what AutoMigrate looks at, whatever its kind (a view in the way changes
// it), with their columns, indexes and constraints.
func (pr *Provisioner) catalogState(db *gorm.DB, tenant string) (string, error) {
	var rows []string
	args := []any{sql.Named("schema", tenant), sql.Named("tables", pr.cfg.Models.TenantTables())}
	if err := db.Raw(pr.cfg.Engine.CatalogRows(), args...).Scan(&rows).Error; err != nil {
		return "", err
	}
	sort.Strings(rows)
	h := sha256.New()
	for _, r := range rows {
		h.Write([]byte(r))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// replayOrRecord replays the DDL recorded under key, or runs migrate (GORM's
// CreateTable or AutoMigrate) on a recording pool and keeps what it sent
// under key. With fallback, a replay that fails gives way to migrate, whose
// DDL is then not kept: the tenant was not what the key said.
func (pr *Provisioner) replayOrRecord(db *gorm.DB, tenant, key string, migrate func(context.Context, string) func(gorm.ConnPool) error, fallback bool) error {
	ctx, pool, e := db.Statement.Context, unprepared(db.Statement.ConnPool), pr.cfg.Engine
	replayable := pr.replayable()
	keep := replayable
	if replayable {
		// Waiting for another worker's recording is bounded like a lock wait;
		// past it, this tenant migrates on its own without recording.
		wctx, cancel := context.WithTimeout(ctx, pr.lockWait(ctx))
		d, recorded, err := pr.ddl.acquire(wctx, key)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return err
		case err != nil:
			keep = false
		case d == nil:
			defer recorded()
		case !fallback:
			return d.replay(ctx, pool, e)
		default:
			err := pr.tryReplay(db, d)
			if err == nil || ctx.Err() != nil {
				return err
			}
			keep = false
		}
	}
	rec := &ddlRecorder{ConnPool: pool}
	if err := migrate(ctx, tenant)(rec); err != nil {
		return err
	}
	// A statement naming a schema would be wrong for the next tenant;
	// GORM's migrators write none for these tables, but a custom one might.
	if keep && !rec.namesSchema(e, tenant) {
		pr.ddl.store(key, &tenantDDL{stmts: rec.stmts})
	}
	return nil
}

// tryReplay replays a recorded migration; on PostgreSQL inside a savepoint,
// so that a failure leaves the transaction as it was. The catalog key says
// the tenant's schema holds every table the models name, so with it first
// on search_path no statement resolves a table to the global schema, which
// stays second for types and extensions installed there.
func (pr *Provisioner) tryReplay(db *gorm.DB, d *tenantDDL) error {
	ctx, pool, e := db.Statement.Context, unprepared(db.Statement.ConnPool), pr.cfg.Engine
	if e != dialect.Postgres {
		return d.replay(ctx, pool, e)
	}
	const savepoint = "kirayedar_replay"
	if err := db.SavePoint(savepoint).Error; err != nil {
		return err
	}
	err := d.replay(ctx, pool, e)
	if err == nil {
		return nil
	}
	if rerr := db.RollbackTo(savepoint).Error; rerr != nil {
		return compensate(err, rerr)
	}
	return err
}

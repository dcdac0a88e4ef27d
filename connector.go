package kirayedar

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar/dialect"
	"github.com/kirayedar/kirayedar/internal/session"
)

// ConnectorOptions configures NewConnector.
type ConnectorOptions struct {
	// GlobalSchema is the schema (PostgreSQL) or database (MySQL) where
	// statements without a tenant run: "public" by default on PostgreSQL;
	// required on MySQL, where it is the DSN's database. It must equal the
	// plugin's Config.GlobalSchema, which it also provides when that is
	// empty.
	GlobalSchema string
	// AllowPooler skips the check, made once on each new PostgreSQL
	// connection, that no connection pooler such as PgBouncer sits between
	// the pool and the server. Set it only for a pooler in session mode,
	// which keeps one server connection per client connection.
	AllowPooler bool
}

// NewConnector wraps the database driver's connector for StrategySession.
// Open the application's *sql.DB on it, and GORM on that:
//
//	pgcfg, _ := pgx.ParseConfig(dsn)
//	connector, _ := kirayedar.NewConnector(stdlib.GetConnector(*pgcfg), kirayedar.ConnectorOptions{})
//	db, _ := gorm.Open(postgres.New(postgres.Config{Conn: sql.OpenDB(connector)}), &gorm.Config{})
//	db.Use(kirayedar.New(kirayedar.Config{Strategy: kirayedar.StrategySession, ...}))
//
// (on MySQL: mysql.NewConnector(mysqlCfg) and ConnectorOptions{GlobalSchema:
// mysqlCfg.DBName}).
//
// Each physical connection remembers the tenant its name resolution is set
// for (search_path on PostgreSQL, the current database on MySQL). Right
// before a statement runs, in the same driver call, the connection is
// switched to the tenant of the statement's context (NewContext, WithTenant)
// or, without one, to the global schema; when it is set for that already,
// nothing extra is sent. A switch to a tenant whose schema or database is
// missing fails with ErrTenantNotFound before the statement is sent; a
// switch that fails otherwise leaves the connection's state unknown, and the
// connection is discarded, never reused. Inside a transaction the switch is
// transaction-local on PostgreSQL (set_config(..., true)), so a rollback
// cannot leave it wrong.
//
// On PostgreSQL a connection set for a tenant also holds a shared advisory
// lock keyed on it, taken and given back by the switch (the warm path sends
// nothing). The provisioner's Drop and Rename, in any process, take it
// exclusively and end the connections holding it before the schema goes:
// PostgreSQL skips a missing schema on search_path, and a connection left
// set for a dropped tenant would resolve its table names in the global
// schema. A switch to a tenant being dropped waits, then fails with
// ErrTenantNotFound. For DROP SCHEMA by hand, see SessionDropGuardSQL.
//
// Prepared statements are kept per tenant: a statement prepared for one
// tenant's table is never run on another's, whatever their columns.
//
// inner's driver must be pgx's stdlib (PostgreSQL) or go-sql-driver/mysql.
func NewConnector(inner driver.Connector, opts ConnectorOptions) (driver.Connector, error) {
	var engine dialect.Engine
	switch name := fmt.Sprintf("%T", inner.Driver()); {
	case strings.HasPrefix(name, "*stdlib."):
		engine = dialect.Postgres
	case strings.HasPrefix(strings.TrimPrefix(name, "*"), "mysql."):
		engine = dialect.MySQL
	default:
		return nil, fmt.Errorf("kirayedar: NewConnector supports pgx's stdlib and go-sql-driver/mysql, not %s", name)
	}
	global := opts.GlobalSchema
	if global == "" {
		global = engine.DefaultGlobalSchema()
	}
	if global == "" {
		return nil, errors.New("kirayedar: NewConnector on MySQL needs ConnectorOptions.GlobalSchema, the DSN's database")
	}
	if err := checkConfigName("GlobalSchema", global); err != nil {
		return nil, err
	}
	st := &connectorState{engine: engine, global: global,
		rules: dialect.Rules{Engine: engine, GlobalSchema: global}}
	sopts := session.Options{Engine: engine, Global: global, Target: st.target, NotFound: ErrTenantNotFound, Owner: st}
	if engine == dialect.Postgres && !opts.AllowPooler {
		sopts.OnConnect = checkNoPooler
	}
	return session.NewConnector(inner, sopts)
}

// connectorState is what a NewConnector pool shares with the plugin
// registered on it.
type connectorState struct {
	engine dialect.Engine
	global string
	rules  dialect.Rules
	// plugin, once registered, validates tenant IDs with its own rules
	// (Config.ReservedNames and the rest) and caches the result.
	plugin atomic.Pointer[Plugin]
}

// target is the tenant a statement's context runs for: its tenant, or ""
// (the global schema) without one and under GlobalContext. An invalid ID
// refuses the statement: it never falls back to the global schema.
func (st *connectorState) target(ctx context.Context) (string, bool, error) {
	sc := scopeOf(ctx)
	switch {
	case sc == nil:
		return "", false, nil
	case sc.global:
		return "", sc.manual, nil
	case sc.err != nil:
		return "", false, &StatementError{Tenant: sc.tenant, Err: sc.err}
	case sc.tenant == "":
		return "", false, nil
	}
	if p := st.plugin.Load(); p != nil {
		if _, err := p.tablesFor(sc.tenant); err != nil {
			return "", false, &StatementError{Tenant: sc.tenant, Err: err}
		}
	} else if err := dialect.Validate(sc.tenant, st.rules); err != nil {
		return "", false, &StatementError{Tenant: sc.tenant, Err: err}
	}
	return sc.tenant, false, nil
}

// checkNoPooler compares the backend process ID the server announced at
// connect time with the one that answers a query. They differ behind a
// pooler, which announces an ID of its own. One round trip per connection.
func checkNoPooler(ctx context.Context, dc driver.Conn) error {
	pc, ok := dc.(interface{ Conn() *pgx.Conn })
	if !ok {
		return nil
	}
	pg := pc.Conn().PgConn()
	res := pg.Exec(ctx, "SELECT pg_catalog.pg_backend_pid()")
	results, err := res.ReadAll()
	if err != nil {
		return fmt.Errorf("kirayedar: checking for a connection pooler: %w", err)
	}
	if len(results) != 1 || len(results[0].Rows) != 1 {
		return errors.New("kirayedar: checking for a connection pooler: no answer to pg_backend_pid()")
	}
	backend, err := strconv.ParseUint(string(results[0].Rows[0][0]), 10, 32)
	if err != nil {
		return fmt.Errorf("kirayedar: checking for a connection pooler: %w", err)
	}
	if uint32(backend) != pg.PID() {
		return fmt.Errorf("kirayedar: %w (the server process answering is %d, the connection announced %d): "+
			"StrategySession needs a direct connection or a session-mode pooler (ConnectorOptions.AllowPooler); "+
			"behind transaction pooling use StrategySchema and kirayedar.Transaction", ErrPooler, backend, pg.PID())
	}
	return nil
}

// attachConnector finds the NewConnector pool db runs on, for
// StrategySession.
func (p *Plugin) attachConnector(ctx context.Context, db *gorm.DB) (*connectorState, error) {
	const how = "open the *sql.DB with sql.OpenDB(kirayedar.NewConnector(...)) and GORM on that"
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("kirayedar: StrategySession: %w; %s", err, how)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("kirayedar: StrategySession: connecting: %w", err)
	}
	defer conn.Close()
	var st *connectorState
	_ = conn.Raw(func(dc any) error {
		if c, ok := session.ConnectorOf(dc); ok {
			st, _ = c.Options().Owner.(*connectorState)
		}
		return nil
	})
	if st == nil {
		return nil, errors.New("kirayedar: StrategySession: the pool's connections are not a kirayedar.NewConnector's; " + how)
	}
	if other := st.plugin.Load(); other != nil && other != p {
		return nil, errors.New("kirayedar: the NewConnector pool serves another Plugin already; open one pool per plugin")
	}
	if st.engine != p.engine {
		return nil, fmt.Errorf("kirayedar: StrategySession: the connector is for %s, the dialector for %s", st.engine, p.engine)
	}
	if g := p.cfg.GlobalSchema; g != "" && g != st.global {
		return nil, fmt.Errorf("kirayedar: Config.GlobalSchema %q differs from the connector's %q", g, st.global)
	}
	return st, nil
}

// SessionDropGuardSQL returns SQL that a superuser may run once in a
// PostgreSQL database served by StrategySession (with psql, or in a
// migration) to cover what is done by hand. Connections set for a tenant
// hold a lock that the provisioner's Drop and Rename act on: they end those
// connections before the schema goes, so that none resolves the tenant's
// table names in the global schema afterwards (PostgreSQL skips a missing
// schema on search_path). A DROP SCHEMA or ALTER SCHEMA ... RENAME run by
// hand does not; the SQL installs event triggers, and their functions in
// globalSchema, that make it. Running it again replaces them. It is not
// needed on MySQL, where a dropped database's tables resolve nowhere else.
func SessionDropGuardSQL(globalSchema string) (string, error) {
	if globalSchema == "" {
		globalSchema = dialect.Postgres.DefaultGlobalSchema()
	}
	if err := checkConfigName("GlobalSchema", globalSchema); err != nil {
		return "", err
	}
	if strings.Contains(globalSchema, "$") {
		return "", fmt.Errorf("kirayedar: SessionDropGuardSQL: the schema name %q has a $", globalSchema)
	}
	return session.DropGuard(globalSchema), nil
}

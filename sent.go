package kirayedar

import (
	"context"
	"database/sql"

	"gorm.io/gorm"
)

// Around the callback that sends a statement (gorm:query, gorm:create, ...)
// the plugin puts its connection pool behind guardedPool, which checks the SQL
// text about to be sent (checkSent) and refuses it before it reaches the
// driver. Whatever built the SQL — GORM's clauses, Raw, Exec, the migrator,
// another plugin's clause — this is the one place all of it passes.

type guardedPool struct {
	gorm.ConnPool
	p    *Plugin
	stmt *gorm.Statement
	// raw: the statement's SQL was written by Raw or Exec, not built by
	// GORM from clauses.
	raw bool
}

// check checks query before it is sent and returns it as it is to be sent
// (rewritten, under StrategySchema, where it names tenant tables by their
// neutral names), and puts the statement's tenant on the span another
// instrumentation made for it: by now its before hook has run, whatever the
// order the plugins were registered in.
func (g *guardedPool) check(query string) (string, error) {
	query, err := g.p.checkSent(g.stmt, g.ConnPool, query, g.raw)
	if err != nil {
		return "", err
	}
	g.p.annotateSpan(g.stmt)
	return query, nil
}

// guardedTx is guardedPool over a transaction, so code that asks the pool
// whether it is one (TxCommitter) still gets the right answer.
type guardedTx struct {
	guardedPool
}

func (g *guardedTx) Commit() error   { return g.ConnPool.(gorm.TxCommitter).Commit() }
func (g *guardedTx) Rollback() error { return g.ConnPool.(gorm.TxCommitter).Rollback() }

func (g *guardedPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	query, err := g.check(query)
	if err != nil {
		return nil, err
	}
	return g.ConnPool.PrepareContext(ctx, query)
}

func (g *guardedPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	query, err := g.check(query)
	if err != nil {
		return nil, err
	}
	return g.ConnPool.ExecContext(ctx, query, args...)
}

func (g *guardedPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query, err := g.check(query)
	if err != nil {
		return nil, err
	}
	return g.ConnPool.QueryContext(ctx, query, args...)
}

func (g *guardedPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	query, err := g.check(query)
	if err != nil {
		_ = g.stmt.AddError(err)
		// A *sql.Row cannot be made with an error of one's own; one asked for
		// on a cancelled context carries an error and reaches no connection.
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		return g.ConnPool.QueryRowContext(cancelled, query, args...)
	}
	return g.ConnPool.QueryRowContext(ctx, query, args...)
}

// guardPool puts the statement's pool behind the check.
func (p *Plugin) guardPool(db *gorm.DB) {
	stmt := db.Statement
	if db.Error != nil || db.DryRun || stmt.ConnPool == nil {
		return
	}
	if g, ok := stmt.ConnPool.(interface{ guarded() *guardedPool }); ok && g.guarded().stmt == stmt {
		return
	}
	// Before the callback that sends, GORM has built no SQL yet unless Raw
	// or Exec wrote it.
	raw := stmt.SQL.Len() > 0
	if _, isTx := stmt.ConnPool.(gorm.TxCommitter); isTx {
		stmt.ConnPool = &guardedTx{guardedPool{ConnPool: stmt.ConnPool, p: p, stmt: stmt, raw: raw}}
		return
	}
	stmt.ConnPool = &guardedPool{ConnPool: stmt.ConnPool, p: p, stmt: stmt, raw: raw}
}

// unguardPool gives the statement its own pool back once it was sent.
func (p *Plugin) unguardPool(db *gorm.DB) {
	if g, ok := db.Statement.ConnPool.(interface{ guarded() *guardedPool }); ok && g.guarded().stmt == db.Statement {
		db.Statement.ConnPool = g.guarded().ConnPool
	}
}

func (g *guardedPool) guarded() *guardedPool { return g }

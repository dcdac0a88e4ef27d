package session

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/kirayedar/kirayedar/dialect"
)

// conn is one physical connection and what it is known to be set for.
type conn struct {
	inner driver.Conn
	c     *Connector

	cur    string // the tenant (or "" for global) name resolution follows
	known  bool   // cur is certain
	bad    bool   // the state is unknown after a failure: never reused
	sticky bool   // holds objects of its tenant (temporary tables, prepared SQL): never switched
	// held is the tenant whose advisory lock the connection holds at
	// session level (PostgreSQL), "" for none: the tenant its session
	// search_path names. See postgres.go.
	held string

	inTx      bool
	base      string // PostgreSQL: cur at BEGIN, what in-transaction (LOCAL) switches revert to
	baseKnown bool
}

var _ interface {
	driver.Conn
	driver.ExecerContext
	driver.QueryerContext
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.NamedValueChecker
	driver.SessionResetter
	driver.Validator
	driver.Pinger
} = (*conn)(nil)

// manualKey keys, on PostgreSQL, the statements that run on a state the
// caller set itself.
const manualKey = "\x00manual"

// ensure sets the connection for ctx's target unless it is set for it. It
// returns the key the statement's PostgreSQL text is cached under.
func (w *conn) ensure(ctx context.Context) (string, error) {
	return w.ensureFor(ctx, false)
}

func (w *conn) ensureFor(ctx context.Context, begin bool) (string, error) {
	if w.bad {
		return "", driver.ErrBadConn
	}
	target, manual, err := w.c.opts.Target(ctx)
	if err != nil {
		return "", err
	}
	if manual && !w.known && !begin {
		return manualKey, nil
	}
	if w.known && w.cur == target {
		return target, nil
	}
	if w.sticky {
		// A temporary table or a prepared statement of the tenant it was
		// set for would be visible to the next one.
		w.bad = true
		if !w.inTx && ctx.Err() == nil {
			return "", driver.ErrBadConn // database/sql retries on another connection
		}
		return "", fmt.Errorf("kirayedar: the connection holds temporary objects (tables, prepared statements) of another tenant; it is discarded")
	}
	return target, w.switchTo(ctx, target)
}

func (w *conn) switchTo(ctx context.Context, target string) error {
	opts := w.c.opts
	name := target
	if name == "" {
		name = opts.Global
	}
	failed := func(err error) error { return fmt.Errorf("kirayedar: switching the connection to %q: %w", name, err) }
	fail := func(err error) error {
		if serverError(err) {
			// The server refused the switch (no access, an aborted
			// transaction): nothing changed, and the connection is sound.
			return failed(err)
		}
		w.bad = true // what the server did is unknown: the connection goes
		if !w.inTx && ctx.Err() == nil {
			return driver.ErrBadConn // nothing of the statement was sent: database/sql retries elsewhere
		}
		return failed(err)
	}
	if opts.beforeSwitch != nil {
		if err := opts.beforeSwitch(); err != nil {
			return fail(err)
		}
	}
	w.c.switches.Add(1)
	if opts.Engine == dialect.Postgres {
		return w.switchPostgres(ctx, target, failed)
	}
	_, err := w.inner.(driver.ExecerContext).ExecContext(ctx, "USE "+opts.Engine.QuoteIdent(name), nil)
	if err != nil {
		if strings.Contains(err.Error(), "1049") { // unknown database: nothing changed
			return failed(opts.NotFound)
		}
		return fail(err)
	}
	w.cur, w.known = target, true
	return nil
}

// switchPostgres sets search_path for target and moves the tenant lock
// with it (postgres.go), in one round trip. A connection set for a tenant
// holds the tenant's lock for as long as it is.
func (w *conn) switchPostgres(ctx context.Context, target string, failed func(error) error) error {
	opts := w.c.opts
	// Sent without arguments: pgx uses the simple protocol, and nothing is
	// prepared or cached.
	q := postgresSwitch(opts.Global, target, w.held, w.inTx)
	res, err := w.inner.(driver.ExecerContext).ExecContext(ctx, q, nil)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		if w.inTx && serverError(err) {
			// The transaction is aborted, and what it set LOCAL goes with
			// it; its locks are the transaction's.
			w.known = false
			if sqlState(err) == "3F000" {
				// The schema was dropped after this transaction last
				// read the catalog (pg_get_object_address found out).
				return failed(fmt.Errorf("%w: %w", opts.NotFound, err))
			}
			return failed(err)
		}
		// Outside a transaction a session-level lock may have been taken
		// or given back before the statement failed: which locks the
		// connection holds is unknown. It goes.
		w.bad = true
		if !w.inTx && ctx.Err() == nil && !serverError(err) {
			return driver.ErrBadConn // nothing of the statement was sent: database/sql retries elsewhere
		}
		return failed(err)
	}
	if n != 1 {
		// The schema is missing: nothing was set, and the lock taken for
		// it given back, or, inside a transaction, left to end with it.
		if !w.inTx && target != "" && w.held == target {
			w.held = "" // it was held already, and given back too
		}
		return failed(opts.NotFound)
	}
	w.cur, w.known = target, true
	if !w.inTx {
		w.held = target
	}
	return nil
}

// keyed gives each tenant its own entry in pgx's statement cache, so that a
// statement planned for one tenant's table is never run on another's.
func (w *conn) keyed(target, q string) string {
	switch {
	case w.c.opts.Engine != dialect.Postgres || target == "":
		return q
	case target == manualKey:
		return "/* kirayedar:manual */ " + q
	}
	return "/* kirayedar:" + target + " */ " + q
}

// after notes what q did to the connection behind the tracker's back. It
// runs on every statement, so it reads q once and allocates nothing.
func (w *conn) after(q string) {
	e := scanEffects(q, w.c.opts.Engine)
	if e == 0 {
		return
	}
	if e&effUnlocks != 0 {
		// The tenant lock may be gone while search_path still names the
		// tenant: the next statement switches, taking it again. (Were it
		// still held, it is then held twice: a Drop of the tenant ends
		// the connection, nothing worse.)
		w.held = ""
	}
	if e&effUnknown != 0 {
		w.known = false
		if w.inTx {
			w.baseKnown = false
		}
	}
	if e&effEndsTx != 0 && w.inTx {
		w.bad = true // the server's transaction is not database/sql's any more
	}
	if e&effSticky != 0 {
		w.sticky = true
	}
}

func (w *conn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	ex, ok := w.inner.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	target, err := w.ensure(ctx)
	if err != nil {
		return nil, err
	}
	defer w.after(q)
	return ex.ExecContext(ctx, w.keyed(target, q), args)
}

func (w *conn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	qu, ok := w.inner.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	target, err := w.ensure(ctx)
	if err != nil {
		return nil, err
	}
	defer w.after(q)
	return qu.QueryContext(ctx, w.keyed(target, q), args)
}

func (w *conn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	s := &stmt{w: w, query: q, byTarget: map[string]driver.Stmt{}}
	if _, err := s.forCtx(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (w *conn) Prepare(q string) (driver.Stmt, error) {
	return w.PrepareContext(context.Background(), q)
}

func (w *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if w.bad {
		return nil, driver.ErrBadConn
	}
	// Switched before BEGIN, at session level: the statements of the
	// transaction need no switch of their own.
	if _, err := w.ensureFor(ctx, true); err != nil {
		return nil, err
	}
	it, err := w.inner.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	w.inTx, w.base, w.baseKnown = true, w.cur, w.known
	return &tx{inner: it, w: w}, nil
}

func (w *conn) Begin() (driver.Tx, error) {
	return w.BeginTx(context.Background(), driver.TxOptions{})
}

func (w *conn) Close() error { return w.inner.Close() }

func (w *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if c, ok := w.inner.(driver.NamedValueChecker); ok {
		return c.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func (w *conn) ResetSession(ctx context.Context) error {
	if w.bad {
		return driver.ErrBadConn
	}
	if r, ok := w.inner.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (w *conn) IsValid() bool {
	if w.bad {
		return false
	}
	if v, ok := w.inner.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (w *conn) Ping(ctx context.Context) error {
	if w.bad {
		return driver.ErrBadConn
	}
	if p, ok := w.inner.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// serverError reports whether err is an error the server sent (pgx's
// *pgconn.PgError, go-sql-driver's *mysql.MySQLError), after which the
// connection's state is what it was. Matched by shape, so that this package
// imports neither driver.
func serverError(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if s, ok := err.(interface{ SQLState() string }); ok {
			// Unless the server ended the session with it.
			return !lostConnection(s.SQLState())
		}
		if fmt.Sprintf("%T", err) == "*mysql.MySQLError" {
			return true
		}
	}
	return false
}

// sqlState returns the SQLSTATE of a PostgreSQL error in err's chain, or "".
func sqlState(err error) string {
	var s interface{ SQLState() string }
	if errors.As(err, &s) {
		return s.SQLState()
	}
	return ""
}

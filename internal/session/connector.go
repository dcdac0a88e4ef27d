// Package session is the connection layer of StrategySession: a
// driver.Connector that wraps the application's real one and makes each
// physical connection's name resolution follow the tenant of the statement
// it runs (PostgreSQL's search_path, MySQL's current database), switching it
// in the same checkout, right before the statement, and only when it is set
// for another tenant. See docs/design/session-strategy.md.
//
// The plugin's kirayedar.NewConnector builds on it.
package session

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/kirayedar/kirayedar/dialect"
)

// ErrNotFound reports a switch to a tenant whose schema or database does not
// exist. Nothing changed on the connection.
var ErrNotFound = errors.New("the tenant's schema or database does not exist")

// Options configures a Connector.
type Options struct {
	// Engine is Postgres or MySQL.
	Engine dialect.Engine
	// Global is the global schema (PostgreSQL) or database (MySQL), which
	// statements without a tenant run in.
	Global string
	// Target returns the tenant a statement's context names, "" for the
	// global schema, or an error that refuses the statement. manual reports
	// that the caller sets the connection's name resolution itself (SET
	// search_path, USE): once it has, and until the tracker knows the state
	// again, the statement runs without a switch. Transactions always begin
	// switched to the target.
	Target func(ctx context.Context) (target string, manual bool, err error)
	// OnConnect, if set, runs on every new connection before it is used;
	// an error closes the connection and fails the Connect.
	OnConnect func(ctx context.Context, c driver.Conn) error
	// NotFound, if set, replaces ErrNotFound in the errors of switches to a
	// missing schema or database.
	NotFound error
	// Owner is for the caller: ConnectorOf returns the Connector, and so
	// its Owner, from any connection it opened.
	Owner any
	// beforeSwitch, in tests, fails a switch before it is sent.
	beforeSwitch func() error
}

// Connector wraps a driver.Connector; open a *sql.DB on it with sql.OpenDB.
type Connector struct {
	inner    driver.Connector
	opts     Options
	switches atomic.Int64
}

// NewConnector wraps inner.
func NewConnector(inner driver.Connector, opts Options) (*Connector, error) {
	if opts.Engine != dialect.Postgres && opts.Engine != dialect.MySQL {
		return nil, fmt.Errorf("session: no session strategy on %q", opts.Engine)
	}
	if opts.Global == "" || opts.Target == nil {
		return nil, errors.New("session: Options.Global and Options.Target are required")
	}
	if opts.NotFound == nil {
		opts.NotFound = ErrNotFound
	}
	return &Connector{inner: inner, opts: opts}, nil
}

// Connect opens a connection whose tenant is unknown until its first switch.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	inner, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if c.opts.OnConnect != nil {
		if err := c.opts.OnConnect(ctx, inner); err != nil {
			_ = inner.Close()
			return nil, err
		}
	}
	return &conn{inner: inner, c: c}, nil
}

// ConnectorOf returns the Connector that opened dc, a driver connection as
// (*sql.Conn).Raw hands it out.
func ConnectorOf(dc any) (*Connector, bool) {
	w, ok := dc.(*conn)
	if !ok {
		return nil, false
	}
	return w.c, true
}

// Options returns the options the Connector was made with.
func (c *Connector) Options() Options { return c.opts }

// Driver returns the wrapped connector's driver.
func (c *Connector) Driver() driver.Driver { return c.inner.Driver() }

// Switches counts the switches sent so far, on every connection.
func (c *Connector) Switches() int64 { return c.switches.Load() }

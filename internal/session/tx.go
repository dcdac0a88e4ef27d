package session

import (
	"database/sql/driver"

	"github.com/kirayedar/kirayedar/dialect"
)

// tx ends a transaction and puts the tracked state where the server leaves
// it.
type tx struct {
	inner driver.Tx
	w     *conn
}

func (t *tx) Commit() error   { return t.end(t.inner.Commit()) }
func (t *tx) Rollback() error { return t.end(t.inner.Rollback()) }

func (t *tx) end(err error) error {
	w := t.w
	w.inTx = false
	if w.c.opts.Engine == dialect.Postgres {
		// Every switch inside was LOCAL: the session value is what it was
		// at BEGIN, committed, rolled back or not.
		w.cur, w.known = w.base, w.baseKnown
	}
	if err != nil {
		w.bad = true // the connection's state is unknown
	}
	return err
}

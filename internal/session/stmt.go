package session

import (
	"context"
	"database/sql/driver"
	"errors"
)

// stmt is a prepared statement that runs, for each target, a driver
// statement prepared for that target: MySQL binds a prepared statement's
// tables in the database current when it was prepared, and PostgreSQL plans
// it for the search_path of then.
type stmt struct {
	w        *conn
	query    string
	byTarget map[string]driver.Stmt
}

// maxTargets bounds the driver statements one stmt keeps.
const maxTargets = 16

func (s *stmt) forCtx(ctx context.Context) (driver.Stmt, error) {
	target, err := s.w.ensure(ctx)
	if err != nil {
		return nil, err
	}
	if is, ok := s.byTarget[target]; ok {
		return is, nil
	}
	if len(s.byTarget) >= maxTargets {
		for t, is := range s.byTarget {
			_ = is.Close()
			delete(s.byTarget, t)
			break
		}
	}
	q := s.w.keyed(target, s.query)
	var is driver.Stmt
	if p, ok := s.w.inner.(driver.ConnPrepareContext); ok {
		is, err = p.PrepareContext(ctx, q)
	} else {
		is, err = s.w.inner.Prepare(q)
	}
	if err != nil {
		return nil, err
	}
	s.byTarget[target] = is
	return is, nil
}

func (s *stmt) Close() error {
	var first error
	for t, is := range s.byTarget {
		if err := is.Close(); err != nil && first == nil {
			first = err
		}
		delete(s.byTarget, t)
	}
	return first
}

func (s *stmt) NumInput() int {
	for _, is := range s.byTarget {
		return is.NumInput()
	}
	return -1
}

func (s *stmt) Exec([]driver.Value) (driver.Result, error) {
	return nil, errors.New("session: use ExecContext")
}

func (s *stmt) Query([]driver.Value) (driver.Rows, error) {
	return nil, errors.New("session: use QueryContext")
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	is, err := s.forCtx(ctx)
	if err != nil {
		return nil, err
	}
	defer s.w.after(s.query)
	return is.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	is, err := s.forCtx(ctx)
	if err != nil {
		return nil, err
	}
	defer s.w.after(s.query)
	return is.(driver.StmtQueryContext).QueryContext(ctx, args)
}

func (s *stmt) CheckNamedValue(nv *driver.NamedValue) error {
	for _, is := range s.byTarget {
		if c, ok := is.(driver.NamedValueChecker); ok {
			return c.CheckNamedValue(nv)
		}
		break
	}
	return s.w.CheckNamedValue(nv)
}

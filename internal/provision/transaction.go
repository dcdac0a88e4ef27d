package provision

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"time"

	"gorm.io/gorm"
)

// undoTimeout bounds the compensation of a failed operation on MySQL, which
// runs after the caller's context may have ended.
const undoTimeout = time.Minute

// inTransaction runs fn in one transaction holding the tenants' transaction
// locks where the engine has them (PostgreSQL advisory locks, taken in
// sorted order so that two operations never wait for each other). On
// PostgreSQL each wait is bounded by lockWait with lock_timeout, local to
// the transaction and reset to its default (the server's, database's or
// role's setting) once the locks are held; the context's end cancels it
// sooner.
func (pr *Provisioner) inTransaction(ctx context.Context, tenants []string, fn func(tx *gorm.DB) error) error {
	done := false
	err := pr.global(ctx).Transaction(func(tx *gorm.DB) error {
		if lock := pr.cfg.Engine.TransactionLock(); lock != "" {
			for _, t := range sortedUnique(tenants) {
				wait := pr.lockWait(ctx)
				if err := tx.Exec(pr.cfg.Engine.SetLocalLockTimeout(), fmt.Sprintf("%dms", max(wait.Milliseconds(), 1))).Error; err != nil {
					return err
				}
				if err := tx.Exec(lock, lockName(t)).Error; err != nil {
					return lockError(err, wait)
				}
			}
			if err := tx.Exec(pr.cfg.Engine.ResetLockTimeout()).Error; err != nil {
				return err
			}
		}
		if err := fn(tx); err != nil {
			return err
		}
		done = true
		return nil
	})
	if err != nil && done && ctx.Err() != nil {
		// The work was done and the context ended around the COMMIT: the
		// server may have committed it or not.
		return &commitUncertain{err: err}
	}
	return err
}

// commitUncertain is the error of a transaction that ended with its context
// while it committed.
type commitUncertain struct{ err error }

func (e *commitUncertain) Error() string { return e.err.Error() }
func (e *commitUncertain) Unwrap() error { return e.err }

// settle decides a commitUncertain error of an operation on tenant by
// reading the registry row the transaction wrote, on a context of its own:
// committed reports, from the row's status ("" for none), whether the
// transaction landed. When it did, the operation succeeded; otherwise, or
// when the registry cannot be read, the error stands.
func (pr *Provisioner) settle(ctx context.Context, err error, tenant string, committed func(status string) bool) error {
	var uncertain *commitUncertain
	if !errors.As(err, &uncertain) {
		return err
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	st, serr := pr.reg.status(pr.global(dctx), tenant)
	if serr == nil && committed(st) {
		return nil
	}
	return uncertain.err
}

func isReady(status string) bool { return status == statusReady }
func isGone(status string) bool  { return status == "" }

// onPinnedConn runs fn on one connection taken from the pool, holding the
// tenants' MySQL named locks (taken in sorted order). When fn fails, or a
// lock cannot be given back, the connection's state (current database,
// locks) is unknown, so it is closed rather than pooled again; closing it
// also frees the locks.
func (pr *Provisioner) onPinnedConn(ctx context.Context, tenants []string, fn func(conn *gorm.DB) error) (err error) {
	sqlDB, err := pr.db.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	discard := false
	defer func() {
		if err != nil || discard {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		_ = conn.Close()
	}()
	session := pr.db.Session(&gorm.Session{NewDB: true, Context: pr.cfg.AsWritten(ctx)})
	session.Statement.ConnPool = conn

	lock, release := pr.cfg.Engine.SessionLock()
	if lock == "" {
		return fn(session)
	}
	for _, t := range sortedUnique(tenants) {
		wait := pr.lockWait(ctx)
		var got *int64
		// MariaDB waits fractions of a second; GET_LOCK(name, 0) would not
		// wait at all.
		seconds := math.Max(math.Round(wait.Seconds()*1000)/1000, 0.001)
		if err := session.Raw(lock, lockName(t), seconds).Scan(&got).Error; err != nil {
			return fmt.Errorf("taking the lock of tenant %s: %w", t, err)
		}
		switch {
		case got == nil:
			return fmt.Errorf("taking the lock of tenant %s: GET_LOCK failed", t)
		case *got != 1:
			return lockError(nil, wait)
		}
		defer func() {
			// The work is done or undone; the caller's context ending now
			// must not turn it into a failure.
			detached, cancel := pr.detached(ctx, session)
			defer cancel()
			if detached.Exec(release, lockName(t)).Error != nil {
				discard = true
			}
		}()
	}
	return fn(session)
}

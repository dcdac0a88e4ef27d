package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// keyedMutex serializes work on one key (a tenant) within the process and
// lets waiters give up when their context ends. The database locks the
// provisioner also takes extend this across processes.
type keyedMutex struct {
	mu      sync.Mutex
	entries map[string]*keyedEntry
}

type keyedEntry struct {
	sem  chan struct{}
	refs int
}

// lock takes the locks of keys, in sorted order so that two callers never
// wait for each other, and returns the function that gives them all back.
func (k *keyedMutex) lock(ctx context.Context, keys ...string) (unlock func(), err error) {
	var unlocks []func()
	unlockAll := func() {
		for i := len(unlocks) - 1; i >= 0; i-- {
			unlocks[i]()
		}
	}
	for _, key := range sortedUnique(keys) {
		u, err := k.lockOne(ctx, key)
		if err != nil {
			unlockAll()
			return nil, err
		}
		unlocks = append(unlocks, u)
	}
	return unlockAll, nil
}

func (k *keyedMutex) lockOne(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.entries == nil {
		k.entries = make(map[string]*keyedEntry)
	}
	e := k.entries[key]
	if e == nil {
		e = &keyedEntry{sem: make(chan struct{}, 1)}
		k.entries[key] = e
	}
	e.refs++
	k.mu.Unlock()

	release := func() {
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.entries, key)
		}
		k.mu.Unlock()
	}
	select {
	case e.sem <- struct{}{}:
		return func() { <-e.sem; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// defaultLockTimeout is LockTimeout's default.
const defaultLockTimeout = 30 * time.Second

// lockWait is how long a lock may still be waited for: what is left of the
// operation's lock budget (LockTimeout from when it started waiting), or
// less if the context ends sooner.
func (pr *Provisioner) lockWait(ctx context.Context) time.Duration {
	wait := *pr.cfg.LockTimeout
	if wait <= 0 {
		wait = defaultLockTimeout
	}
	if budget, ok := ctx.Value(lockBudgetKey{}).(time.Time); ok && !budget.IsZero() {
		wait = min(wait, time.Until(budget))
	}
	if deadline, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(deadline))
	}
	return max(wait, time.Millisecond)
}

// lockBudgetKey keys the time by which an operation must hold all its locks.
type lockBudgetKey struct{}

// lockInProcess takes the tenants' in-process locks, waiting at most
// lockWait, and returns ctx carrying the lock budget for the database locks
// that follow.
func (pr *Provisioner) lockInProcess(ctx context.Context, tenants []string) (context.Context, func(), error) {
	wait := pr.lockWait(ctx)
	ctx = context.WithValue(ctx, lockBudgetKey{}, time.Now().Add(wait))
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	unlock, err := pr.locks.lock(wctx, tenants...)
	if err != nil && ctx.Err() == nil {
		return ctx, nil, lockError(nil, wait)
	}
	return ctx, unlock, err
}

// freshLockBudget lets compensation, which runs after the operation's own
// budget may be spent, wait LockTimeout anew.
func freshLockBudget(ctx context.Context) context.Context {
	return context.WithValue(ctx, lockBudgetKey{}, time.Time{})
}

// lockError reports a lock that was not granted: ErrLockTimeout when the wait
// ran out (PostgreSQL's lock_not_available, or MySQL's GET_LOCK returning
// 0), the cause otherwise.
func lockError(cause error, wait time.Duration) error {
	var state interface{ SQLState() string }
	if cause == nil || (errors.As(cause, &state) && state.SQLState() == "55P03") {
		return fmt.Errorf("waited %v for the tenant lock: %w", wait, ErrLockTimeout)
	}
	return fmt.Errorf("taking the tenant lock: %w", cause)
}

func sortedUnique(keys []string) []string {
	out := append([]string(nil), keys...)
	sort.Strings(out)
	return slices.Compact(out)
}

// lockName names a tenant's lock. MySQL limits lock names to 64 characters;
// tenant IDs are at most 64 bytes, so long ones are shortened by a hash.
func lockName(tenant string) string {
	const prefix = "kirayedar:"
	if len(prefix)+len(tenant) <= 64 {
		return prefix + tenant
	}
	return fmt.Sprintf("%s%s~%016x", prefix, tenant[:32], fnv64(tenant))
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

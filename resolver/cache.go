package resolver

import (
	"context"
	"sync"
	"time"
)

// answerCache keeps lookups (does tenant exist; which tenant a custom
// domain names) for a while, and makes concurrent misses for one key wait
// for a single lookup instead of each running its own.
type answerCache struct {
	mu       sync.Mutex
	entries  map[string]cacheEntry
	inFlight map[string]*flight
	ttl      time.Duration // for answers that found something
	negTTL   time.Duration // for answers that found nothing
	limit    int
	now      func() time.Time
	// gen counts invalidations: an answer looked up across one is not
	// kept, since it may predate the change.
	gen uint64
}

type cacheEntry struct {
	value   string // the answer: a tenant ID, or "" for none
	expires time.Time
}

type flight struct {
	done  chan struct{}
	value string
	err   error
}

func newAnswerCache(ttl, negTTL time.Duration) *answerCache {
	return &answerCache{entries: map[string]cacheEntry{}, inFlight: map[string]*flight{},
		ttl: ttl, negTTL: negTTL, limit: 100000, now: time.Now}
}

// get returns the cached answer for key, or runs lookup once for every
// caller waiting on key. Errors are not cached.
func (c *answerCache) get(ctx context.Context, key string, lookup func(context.Context) (string, error)) (string, error) {
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && c.now().Before(e.expires) {
		c.mu.Unlock()
		return e.value, nil
	}
	if f, ok := c.inFlight[key]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.value, f.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	c.inFlight[key] = f
	gen := c.gen
	c.mu.Unlock()

	// The lookup outlives a caller that gives up: others may be waiting.
	f.value, f.err = lookup(context.WithoutCancel(ctx))

	c.mu.Lock()
	delete(c.inFlight, key)
	if f.err == nil && gen == c.gen {
		if len(c.entries) >= c.limit {
			c.entries = map[string]cacheEntry{}
		}
		ttl := c.ttl
		if f.value == "" {
			ttl = c.negTTL
		}
		c.entries[key] = cacheEntry{value: f.value, expires: c.now().Add(ttl)}
	}
	c.mu.Unlock()
	close(f.done)
	return f.value, f.err
}

// forget drops the answers for keys, so the next request looks again.
func (c *answerCache) forget(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, k := range keys {
		delete(c.entries, k)
	}
}

// forgetValues drops every answer whose value is one of values (custom
// domains that named a tenant that changed).
func (c *answerCache) forgetValues(values ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		for _, v := range values {
			if e.value == v {
				delete(c.entries, k)
			}
		}
	}
}

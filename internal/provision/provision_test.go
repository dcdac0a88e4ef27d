package provision

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestPrefixIndexNames(t *testing.T) {
	cases := map[reflect.StructTag]reflect.StructTag{
		`gorm:"index"`:                              `gorm:"index"`,
		`gorm:"size:10;index:idx_a"`:                `gorm:"size:10;index:acme_idx_a"`,
		`gorm:"uniqueIndex:uix,sort:desc" json:"a"`: `gorm:"uniqueIndex:acme_uix,sort:desc" json:"a"`,
		`gorm:"index:,unique"`:                      `gorm:"index:,unique"`,
		`gorm:"index:idx_a;index:idx_b,priority:2"`: `gorm:"index:acme_idx_a;index:acme_idx_b,priority:2"`,
		`json:"x"`:                   `json:"x"`,
		`gorm:"index:acme_idx_done"`: `gorm:"index:acme_idx_done"`,
	}
	for in, want := range cases {
		if got := prefixIndexNames(in, "acme_"); got != want {
			t.Errorf("prefixIndexNames(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestKeyedMutex(t *testing.T) {
	var k keyedMutex
	ctx := context.Background()
	unlock, err := k.lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	// Another key is independent.
	unlockB, err := k.lock(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	unlockB()

	// The same key waits, and gives up with its context.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := k.lock(short, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock of a held key: %v, want DeadlineExceeded", err)
	}

	var wg sync.WaitGroup
	acquired := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		u, err := k.lock(ctx, "a")
		if err == nil {
			close(acquired)
			u()
		}
	}()
	select {
	case <-acquired:
		t.Fatal("a held key was acquired twice")
	case <-time.After(20 * time.Millisecond):
	}
	unlock()
	wg.Wait()
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.entries) != 0 {
		t.Errorf("entries left after every lock was released: %d", len(k.entries))
	}
}

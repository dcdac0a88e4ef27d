package tests

import (
	"context"
	"strings"
	"testing"
)

// Create never runs AutoMigrate's catalog walk: the first Create in a process
// runs GORM's CreateTable for each model (and, under the schema strategy,
// records the DDL); the next ones replay that DDL. Both must make exactly
// what AutoMigrate makes: same columns and types, nullability, defaults,
// indexes, unique, check and foreign-key constraints.
func TestReplayedCreateMatchesAutoMigrate(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.String(), func(t *testing.T) {
			e := newEnv(t, tg, nil)
			first := e.newTenant(t) // CreateTable; records the DDL under the schema strategy

			e.prov.DisableDDLReplay = true
			var migrated string
			autoSent, _ := e.sentDuring(func() { migrated = e.newTenant(t) })
			e.prov.DisableDDLReplay = false
			var replayed string
			replaySent, _ := e.sentDuring(func() { replayed = e.newTenant(t) })

			if tg.schemaPerTenant() && replaySent*2 > autoSent {
				t.Errorf("a replayed Create sent %d statements, AutoMigrate %d: it did not replay", replaySent, autoSent)
			}
			t.Logf("statements sent: AutoMigrate %d, replay %d", autoSent, replaySent)
			want := e.shape(t, migrated)
			if len(want) < len(tenantTables) {
				t.Fatalf("the catalog of %s is too small to compare: %v", migrated, want)
			}
			for _, id := range []string{first, replayed} {
				if diff := shapeDiff(want, e.shape(t, id)); len(diff) > 0 {
					t.Errorf("tenant %s differs from the AutoMigrated %s:\n%s", id, migrated, strings.Join(diff, "\n"))
				}
			}
			must(t, e.db.WithContext(ctxFor(replayed)).Create(&Post{Title: "works", Tags: []Tag{{Name: "a"}}}).Error)
		})
	}
}

// A replayed Create is as atomic as any: a tenant whose replay fails leaves
// nothing behind, and a later Create succeeds.
func TestReplayedCreateRefusesLeftovers(t *testing.T) {
	for _, tg := range targets {
		if !tg.schemaPerTenant() {
			continue
		}
		t.Run(tg.String(), func(t *testing.T) {
			e := newEnv(t, tg, nil)
			e.newTenant(t) // records the DDL
			id := e.tenantID()
			ctx := context.Background()
			must(t, e.prov.Create(ctx, id))
			must(t, e.prov.Drop(ctx, id))
			must(t, e.prov.Create(ctx, id))
			t.Cleanup(func() { _ = e.prov.Drop(ctx, id) })
			e.assertComplete(t, id)
		})
	}
}

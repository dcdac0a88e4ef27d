package tests

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar"
)

// A chain scope (WithTenant, Global) combined with the scope its context
// already names. GORM runs a chain's scopes only when one of its statements
// executes, so every path on which GORM makes a new session is checked here
// under each combination: a statement either runs for the chain's tenant, or
// is refused, and nothing lands anywhere else.

// wtCombo is one combination of a chain scope and a context.
type wtCombo struct {
	name string
	kind wtKind
	// chain returns a fresh chain for tenants a and b.
	chain func(e *env, a, b string) *gorm.DB
	// elsewhere is where a statement built from a session GORM made before
	// the chain's scopes ran lands (see TestWithTenantLimitSessionsMadeBeforeScopes):
	// "b", or "" for the global copies.
	elsewhere string
}

type wtKind int

const (
	wtSame     wtKind = iota // the context names the chain's tenant: everything runs for a
	wtNone                   // the context names no tenant: the scope decides
	wtConflict               // the context names another tenant, or is global: refused
)

var wtCombos = []wtCombo{
	{name: "WithTenant(a) over b's context", kind: wtConflict, elsewhere: "b", chain: func(e *env, a, b string) *gorm.DB {
		return e.db.WithContext(ctxFor(b)).Scopes(kirayedar.WithTenant(a))
	}},
	{name: "WithTenant(a) without a tenant", kind: wtNone, chain: func(e *env, a, b string) *gorm.DB {
		return e.db.WithContext(context.Background()).Scopes(kirayedar.WithTenant(a))
	}},
	{name: "WithTenant(a) over a cleared context", kind: wtNone, chain: func(e *env, a, b string) *gorm.DB {
		return e.db.WithContext(kirayedar.NewContext(ctxFor(b), "")).Scopes(kirayedar.WithTenant(a))
	}},
	{name: "WithTenant(a) over GlobalContext", kind: wtConflict, elsewhere: "", chain: func(e *env, a, b string) *gorm.DB {
		return e.db.WithContext(kirayedar.GlobalContext(context.Background())).Scopes(kirayedar.WithTenant(a))
	}},
	{name: "Global() over b's context", kind: wtConflict, elsewhere: "b", chain: func(e *env, a, b string) *gorm.DB {
		return e.db.WithContext(ctxFor(b)).Scopes(kirayedar.Global())
	}},
	{name: "WithTenant(a) over a's context", kind: wtSame, chain: func(e *env, a, b string) *gorm.DB {
		return e.db.WithContext(ctxFor(a)).Scopes(kirayedar.WithTenant(a))
	}},
}

// How an operation reaches a session GORM made before the chain's scopes
// ran (and so carries the context's scope, not the chain's).
type wtUntied int

const (
	tiedOnly    wtUntied = iota // every statement runs the chain's scopes
	untiedFirst                 // the first statement comes from such a session (Append of a map; NewDB in a transaction)
	tiedFirst                   // a statement of the chain first, then one from such a session
	untiedThen                  // one from such a session first, then one of the chain, in a transaction
)

// wtFixture is what each case starts from: in tenant a, an owner post with
// two tags and a comment; tenant b holds the same rows.
type wtFixture struct {
	tenant string // a
	mark   string // unique to the case, in every name it writes
	owner  Post
	tag    Tag // one of the owner's tags
}

type wtOp struct {
	name   string
	untied wtUntied
	// opensTx: GORM begins a transaction before the chain's scopes run, so
	// a refusal sends BEGIN (and rolls it back).
	opensTx bool
	run     func(db *gorm.DB, f *wtFixture) error
	// check checks tenant a after the operation ran for it.
	check func(t *testing.T, e *env, f *wtFixture)
}

func (f *wtFixture) n(suffix string) string { return f.mark + "-" + suffix }

// hookedPost is a post whose AfterCreate hook writes through a session of
// its own, made with NewDB from the hook's tx.
type hookedPost struct {
	ID     uint
	Tenant string `gorm:"size:64"`
	Title  string `gorm:"size:200"`
}

func (hookedPost) TableName() string { return "posts" }

func (p *hookedPost) BeforeCreate(tx *gorm.DB) error {
	p.Tenant, _ = kirayedar.FromContext(tx.Statement.Context)
	return nil
}

func (p *hookedPost) AfterCreate(tx *gorm.DB) error {
	tenant, _ := kirayedar.FromContext(tx.Statement.Context)
	return tx.Session(&gorm.Session{NewDB: true}).Create(&AuditLog{Stamp: Stamp{tenant}, Action: "hooked " + p.Title}).Error
}

var wtOps = []wtOp{
	{
		name: "Create, with a hook writing through tx",
		run:  func(db *gorm.DB, f *wtFixture) error { return db.Create(&Post{Title: f.n("created")}).Error },
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "posts", "title = ?", 1, f.n("created"))
			wantCount(t, e, f.tenant, "audit_logs", "action = ?", 1, "create post "+f.n("created"))
		},
	},
	{
		name: "Create, with a hook writing through tx.Session(NewDB)",
		run:  func(db *gorm.DB, f *wtFixture) error { return db.Create(&hookedPost{Title: f.n("hooked")}).Error },
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "posts", "title = ? AND tenant = ?", 1, f.n("hooked"), f.tenant)
			wantCount(t, e, f.tenant, "audit_logs", "action = ? AND tenant = ?", 1, "hooked "+f.n("hooked"), f.tenant)
		},
	},
	{
		name: "Save with associations",
		run: func(db *gorm.DB, f *wtFixture) error {
			return db.Save(&Post{Title: f.n("saved"), Company: &Company{Name: f.n("co")}, Tags: []Tag{{Name: f.n("saved-tag")}},
				Comments: []Comment{{Body: f.n("saved-comment"), Author: &Author{Name: f.n("au")}}}}).Error
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "posts", "title = ?", 1, f.n("saved"))
			wantCount(t, e, f.tenant, "companies", "name = ?", 1, f.n("co"))
			wantCount(t, e, f.tenant, "tags", "name = ?", 1, f.n("saved-tag"))
			wantCount(t, e, f.tenant, "comments", "body = ?", 1, f.n("saved-comment"))
			wantCount(t, e, f.tenant, "authors", "name = ?", 1, f.n("au"))
		},
	},
	{
		name: "FirstOrCreate",
		run: func(db *gorm.DB, f *wtFixture) error {
			var p Post
			return db.FirstOrCreate(&p, Post{Title: f.n("foc")}).Error
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "posts", "title = ?", 1, f.n("foc"))
		},
	},
	{
		name: "FirstOrCreate finding the row",
		run: func(db *gorm.DB, f *wtFixture) error {
			var p Post
			if err := db.FirstOrCreate(&p, Post{Title: f.owner.Title}).Error; err != nil {
				return err
			}
			if p.ID != f.owner.ID || p.Tenant != f.tenant {
				return fmt.Errorf("found post %d of tenant %q, want %d of %q", p.ID, p.Tenant, f.owner.ID, f.tenant)
			}
			return nil
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "posts", "title = ?", 1, f.owner.Title)
		},
	},
	{
		name: "CreateInBatches, one batch",
		run: func(db *gorm.DB, f *wtFixture) error {
			return db.CreateInBatches(&[]Post{{Title: f.n("batch")}, {Title: f.n("batch")}}, 10).Error
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "posts", "title = ?", 2, f.n("batch"))
		},
	},
	{
		name:    "CreateInBatches, three batches in a transaction",
		opensTx: true,
		run: func(db *gorm.DB, f *wtFixture) error {
			return db.CreateInBatches(&[]Post{{Title: f.n("batches")}, {Title: f.n("batches")}, {Title: f.n("batches")}}, 1).Error
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "posts", "title = ?", 3, f.n("batches"))
			wantCount(t, e, f.tenant, "audit_logs", "action = ?", 3, "create post "+f.n("batches"))
		},
	},
	{
		name: "FindInBatches, writing through each batch's tx.Session(NewDB)",
		run: func(db *gorm.DB, f *wtFixture) error {
			var posts []Post
			return db.Where("title = ?", f.owner.Title).FindInBatches(&posts, 1, func(tx *gorm.DB, batch int) error {
				if err := ownedBy(tx, posts...); err != nil {
					return err
				}
				return tx.Session(&gorm.Session{NewDB: true}).Create(&AuditLog{Action: f.n("batch")}).Error
			}).Error
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "audit_logs", "action = ? AND tenant = ?", 1, f.n("batch"), f.tenant)
		},
	},
	{
		name: "Preload, nested",
		run: func(db *gorm.DB, f *wtFixture) error {
			var posts []Post
			if err := db.Preload("Tags").Preload("Comments.Author").Where("id = ?", f.owner.ID).Find(&posts).Error; err != nil {
				return err
			}
			if len(posts) != 1 || len(posts[0].Tags) != 2 || len(posts[0].Comments) != 1 || posts[0].Comments[0].Author == nil {
				return fmt.Errorf("preloaded %+v, want the owner with 2 tags and a comment with its author", posts)
			}
			p := posts[0]
			return sameTenant(db.WithContext(ctxFor(f.tenant)), []string{p.Tenant, p.Tags[0].Tenant, p.Tags[1].Tenant,
				p.Comments[0].Tenant, p.Comments[0].Author.Tenant})
		},
	},
	{
		name: "Association Find",
		run: func(db *gorm.DB, f *wtFixture) error {
			var tags []Tag
			if err := db.Model(&Post{ID: f.owner.ID}).Association("Tags").Find(&tags); err != nil {
				return err
			}
			if len(tags) != 2 {
				return fmt.Errorf("found %d tags, want 2", len(tags))
			}
			return sameTenant(db.WithContext(ctxFor(f.tenant)), []string{tags[0].Tenant, tags[1].Tenant})
		},
	},
	{
		name: "Association Count",
		run: func(db *gorm.DB, f *wtFixture) error {
			as := db.Model(&Post{ID: f.owner.ID}).Association("Tags")
			if n := as.Count(); as.Error == nil && n != 2 {
				return fmt.Errorf("counted %d tags, want 2", n)
			}
			return as.Error
		},
	},
	{
		name: "Association Append of a struct (many2many)",
		run: func(db *gorm.DB, f *wtFixture) error {
			return db.Model(&Post{ID: f.owner.ID}).Association("Tags").Append(&Tag{Name: f.n("appended")})
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "tags", "name = ? AND tenant = ?", 1, f.n("appended"), f.tenant)
			wantCount(t, e, f.tenant, "post_tags", "post_id = ?", 3, f.owner.ID)
		},
	},
	{
		name: "Association Append of a struct (has-many)",
		run: func(db *gorm.DB, f *wtFixture) error {
			return db.Model(&Post{ID: f.owner.ID}).Association("Comments").Append(&Comment{Body: f.n("appended")})
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "comments", "body = ? AND post_id = ? AND tenant = ?", 1, f.n("appended"), f.owner.ID, f.tenant)
		},
	},
	{
		name: "Association Replace with a struct",
		run: func(db *gorm.DB, f *wtFixture) error {
			return db.Model(&Post{ID: f.owner.ID}).Association("Tags").Replace(&Tag{Name: f.n("replaced")})
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "tags", "name = ?", 1, f.n("replaced"))
			wantCount(t, e, f.tenant, "post_tags", "post_id = ?", 1, f.owner.ID)
		},
	},
	{
		name: "Association Delete of a struct",
		run: func(db *gorm.DB, f *wtFixture) error {
			return db.Model(&Post{ID: f.owner.ID}).Association("Tags").Delete(&f.tag)
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "post_tags", "post_id = ?", 1, f.owner.ID)
		},
	},
	{
		name: "Association Clear (many2many and has-many)",
		run: func(db *gorm.DB, f *wtFixture) error {
			owner, s := &Post{ID: f.owner.ID}, db.Session(&gorm.Session{}) // two statements on one chain
			if err := s.Model(owner).Association("Tags").Clear(); err != nil {
				return err
			}
			return s.Model(owner).Association("Comments").Clear()
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "post_tags", "post_id = ?", 0, f.owner.ID)
			wantCount(t, e, f.tenant, "comments", "post_id = ?", 0, f.owner.ID)
		},
	},
	{
		name:   "Association Append of a map (many2many)",
		untied: untiedFirst,
		run: func(db *gorm.DB, f *wtFixture) error {
			return db.Model(&Post{ID: f.owner.ID}).Association("Tags").Append(map[string]any{"Name": f.n("map"), "Tenant": f.tenant})
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "tags", "name = ?", 1, f.n("map"))
			wantCount(t, e, f.tenant, "post_tags", "post_id = ?", 3, f.owner.ID)
		},
	},
	{
		name:   "Association Append of a map (has-many)",
		untied: untiedFirst,
		run: func(db *gorm.DB, f *wtFixture) error {
			return db.Model(&Post{ID: f.owner.ID}).Association("Comments").Append(map[string]any{"Body": f.n("map"), "Tenant": f.tenant})
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "comments", "body = ? AND post_id = ?", 1, f.n("map"), f.owner.ID)
		},
	},
	{
		// Replace of maps through a many2many panics inside GORM
		// (GetIdentityFieldValuesMapFromValues reads a map as a struct).
		name:   "Association Replace with a map (has-many)",
		untied: untiedFirst,
		run: func(db *gorm.DB, f *wtFixture) error {
			return db.Model(&Post{ID: f.owner.ID}).Association("Comments").Replace(map[string]any{"Body": f.n("map"), "Tenant": f.tenant})
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "comments", "body = ?", 1, f.n("map"))
		},
	},
	{
		name:    "Transaction: statements on tx",
		opensTx: true,
		run: func(db *gorm.DB, f *wtFixture) error {
			return db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Create(&Post{Title: f.n("in-tx")}).Error; err != nil {
					return err
				}
				if err := tx.Model(&Post{ID: f.owner.ID}).Association("Tags").Append(&Tag{Name: f.n("in-tx")}); err != nil {
					return err
				}
				return tx.Transaction(func(tx2 *gorm.DB) error { // a savepoint
					return tx2.Create(&Post{Title: f.n("in-savepoint")}).Error
				})
			})
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "posts", "title IN (?, ?) AND tenant = ?", 2, f.n("in-tx"), f.n("in-savepoint"), f.tenant)
			wantCount(t, e, f.tenant, "tags", "name = ?", 1, f.n("in-tx"))
		},
	},
	{
		name:    "Transaction: tx.Session(NewDB)",
		untied:  untiedFirst,
		opensTx: true,
		run: func(db *gorm.DB, f *wtFixture) error {
			return db.Transaction(func(tx *gorm.DB) error {
				return tx.Session(&gorm.Session{NewDB: true}).Create(&Post{Title: f.n("newdb")}).Error
			})
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "posts", "title = ?", 1, f.n("newdb"))
		},
	},
	{
		name:    "Transaction: tx, then tx.Session(NewDB)",
		untied:  tiedFirst,
		opensTx: true,
		run: func(db *gorm.DB, f *wtFixture) error {
			return db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Create(&Post{Title: f.n("tx-first")}).Error; err != nil {
					return err
				}
				return tx.Session(&gorm.Session{NewDB: true}).Create(&Post{Title: f.n("newdb-second")}).Error
			})
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "posts", "title IN (?, ?)", 2, f.n("tx-first"), f.n("newdb-second"))
		},
	},
	{
		name:    "Transaction: tx.Session(NewDB), then tx",
		untied:  untiedThen,
		opensTx: true,
		run: func(db *gorm.DB, f *wtFixture) error {
			return db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Session(&gorm.Session{NewDB: true}).Create(&Post{Title: f.n("newdb-first")}).Error; err != nil {
					return err
				}
				return tx.Create(&Post{Title: f.n("tx-second")}).Error
			})
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "posts", "title IN (?, ?)", 2, f.n("newdb-first"), f.n("tx-second"))
		},
	},
	{
		name: "Connection: statements on tx",
		run: func(db *gorm.DB, f *wtFixture) error {
			return db.Connection(func(tx *gorm.DB) error { return tx.Create(&Post{Title: f.n("on-conn")}).Error })
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "posts", "title = ?", 1, f.n("on-conn"))
		},
	},
	{
		name:   "Connection: tx.Session(NewDB)",
		untied: untiedFirst,
		run: func(db *gorm.DB, f *wtFixture) error {
			return db.Connection(func(tx *gorm.DB) error {
				return tx.Session(&gorm.Session{NewDB: true}).Create(&Post{Title: f.n("conn-newdb")}).Error
			})
		},
		check: func(t *testing.T, e *env, f *wtFixture) {
			wantCount(t, e, f.tenant, "posts", "title = ?", 1, f.n("conn-newdb"))
		},
	},
}

// seed writes the fixture's rows for tenant under mark and returns them.
func (e *env) wtSeed(t *testing.T, tenant, mark string) *wtFixture {
	t.Helper()
	f := &wtFixture{tenant: tenant, mark: mark}
	f.owner = Post{Title: f.n("owner"), Tags: []Tag{{Name: f.n("t1")}, {Name: f.n("t2")}},
		Comments: []Comment{{Body: f.n("c1"), Author: &Author{Name: f.n("a1")}}}}
	must(t, e.db.WithContext(ctxFor(tenant)).Create(&f.owner).Error)
	f.tag = f.owner.Tags[0]
	return f
}

// stampedTables are the tenant tables whose rows record their tenant.
var stampedTables = []string{"audit_logs", "authors", "billing_invoices", "comments", "companies", "posts", "tags"}

// TestWithTenant runs every operation that makes GORM start a new session —
// associations, transactions, connections, hooks, batches, preloads, Save,
// FirstOrCreate — on a chain scoped with WithTenant or Global, over each kind
// of context. Over a context for the same tenant every statement runs for
// it. Over a context without a tenant the chain's statements run for its
// tenant, and one GORM builds from a session it made before the chain's
// scopes ran is refused with ErrNoTenant. Over a context that names another
// tenant, or is global, the chain is refused with ErrCrossTenant before
// anything is sent (but a BEGIN). Where a transaction sent a statement before
// the refusal, fn returns it and the transaction rolls back. In every case
// tenant b and the global copies are left exactly as they were, and a
// refused operation leaves tenant a as it was too.
func TestWithTenant(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a, b := e.newTenant(t), e.newTenant(t)
		seq := 0
		for _, c := range wtCombos {
			for _, op := range wtOps {
				if c.kind == wtConflict && op.untied == untiedFirst {
					continue // TestWithTenantLimitSessionsMadeBeforeScopes
				}
				t.Run(c.name+"/"+op.name, func(t *testing.T) {
					seq++
					mark := fmt.Sprintf("wt%d", seq)
					f := e.wtSeed(t, a, mark)
					e.wtSeed(t, b, mark)
					beforeA, beforeB, beforeG := e.snapshot(t, a), e.snapshot(t, b), e.snapshot(t, "")
					var err error
					sent, begins := e.sentDuring(func() { err = op.run(c.chain(e, a, b), f) })

					switch want := wtWant(c.kind, op.untied); want {
					case nil:
						if err != nil {
							t.Errorf("got %v, want it to run for tenant a", err)
						} else if op.check != nil {
							op.check(t, e, f)
						}
						for _, table := range stampedTables {
							if n := e.foreignRows(t, a, table); n != 0 {
								t.Errorf("%s of tenant a holds %d rows of another tenant", table, n)
							}
						}
					default:
						var se *kirayedar.StatementError
						if !errors.Is(err, want) || !errors.As(err, &se) {
							t.Errorf("got %v, want a *StatementError wrapping %v", err, want)
						} else if errors.Is(want, kirayedar.ErrCrossTenant) && se.Tenant == "" {
							t.Errorf("the refusal %v names no tenant", err)
						}
						if after := e.snapshot(t, a); after != beforeA {
							t.Errorf("tenant a changed:\nbefore %s\nafter  %s", beforeA, after)
						}
						rolledBack := op.untied == tiedFirst && c.kind == wtNone || op.untied == untiedThen && c.kind == wtConflict
						if sent != 0 && !rolledBack {
							t.Errorf("%d statements reached the database before the refusal", sent)
						}
						if begins != 0 && !op.opensTx {
							t.Errorf("%d transactions were begun before the refusal", begins)
						}
					}
					if after := e.snapshot(t, b); after != beforeB {
						t.Errorf("tenant b changed:\nbefore %s\nafter  %s", beforeB, after)
					}
					if after := e.snapshot(t, ""); after != beforeG {
						t.Errorf("the global copies changed:\nbefore %s\nafter  %s", beforeG, after)
					}
				})
			}
		}
		e.assertGlobalUntouched(t)
	})
}

// wtWant is what a chain of kind does with an operation: nil when it runs
// for tenant a, or the error it is refused with.
func wtWant(kind wtKind, untied wtUntied) error {
	switch {
	case kind == wtSame:
		return nil
	case kind == wtConflict:
		return kirayedar.ErrCrossTenant
	case untied != tiedOnly:
		return kirayedar.ErrNoTenant // the session GORM made carries no tenant
	}
	return nil
}

// TestWithTenantLimitSessionsMadeBeforeScopes pins down the one thing the
// plugin cannot refuse. GORM builds some statements from a session it makes
// from the chain before the chain's scopes ever run: Association Append and
// Replace of maps insert each map that way, and Begin, Transaction and
// Connection hand fn a tx whose Session(NewDB) sessions (and whose
// Statement.Context) carry the chain's context, not its scope. No callback,
// clause or connection the plugin sees tells such a statement from one the
// context alone asked for, so it runs for the context's own scope (tenant b,
// or the global copies). The chain's own statements are still refused with
// ErrCrossTenant, so nothing ever lands in tenant a, and no link in a points
// at the row written elsewhere; inside a transaction whose fn returns that
// error, the row is rolled back too (TestWithTenant covers that order).
func TestWithTenantLimitSessionsMadeBeforeScopes(t *testing.T) {
	forEachTarget(t, func(t *testing.T, e *env) {
		a, b := e.newTenant(t), e.newTenant(t)
		seq := 0
		for _, c := range wtCombos {
			if c.kind != wtConflict {
				continue
			}
			for _, op := range wtOps {
				if op.untied != untiedFirst {
					continue
				}
				t.Run(c.name+"/"+op.name, func(t *testing.T) {
					seq++
					mark := fmt.Sprintf("wl%d", seq)
					f := e.wtSeed(t, a, mark)
					e.wtSeed(t, b, mark)
					where := map[string]string{"b": b, "": ""}[c.elsewhere]
					other := map[string]string{"b": "", "": b}[c.elsewhere]
					t.Cleanup(func() { e.wtScrub(t, "", mark) })
					beforeA, beforeOther := e.snapshot(t, a), e.snapshot(t, other)
					linksBefore := e.count(t, where, "post_tags", "")

					err := op.run(c.chain(e, a, b), f)

					// What the session made before the scopes wrote, and where.
					var table, cond string
					switch {
					case strings.Contains(op.name, "(has-many)"):
						table, cond = "comments", "body LIKE '"+mark+"-map%'"
					case strings.Contains(op.name, "map"):
						table, cond = "tags", "name LIKE '"+mark+"-map%'"
					default:
						table, cond = "posts", "title LIKE '"+mark+"-%' AND title <> '"+f.owner.Title+"'"
					}
					var se *kirayedar.StatementError
					refused := errors.As(err, &se)
					switch landed := e.count(t, where, table, cond); {
					case landed == 0 && err != nil && !refused:
						// The database refused it (the comment's foreign key
						// names a post the global copy lacks): it was sent
						// for the context's scope all the same.
					case landed == 0:
						t.Errorf("%s: nothing in %s of %q (error %v); if GORM now runs the chain's scopes first, drop this limit from WithTenant's doc",
							op.name, table, c.elsewhere, err)
					case strings.Contains(op.name, "Association"):
						// The chain's own statement (the link) was refused.
						if !errors.Is(err, kirayedar.ErrCrossTenant) {
							t.Errorf("got %v, want ErrCrossTenant", err)
						}
					case err != nil:
						t.Errorf("got %v; the chain's scopes never ran", err)
					}
					if n := e.count(t, where, "post_tags", ""); n != linksBefore {
						t.Errorf("post_tags of %q: %d rows, had %d", c.elsewhere, n, linksBefore)
					}
					if after := e.snapshot(t, a); after != beforeA {
						t.Errorf("tenant a changed:\nbefore %s\nafter  %s", beforeA, after)
					}
					if after := e.snapshot(t, other); after != beforeOther {
						t.Errorf("%q changed:\nbefore %s\nafter  %s", other, beforeOther, after)
					}
				})
			}
		}
		e.assertGlobalUntouched(t)
	})
}

// wtScrub deletes the rows a case wrote under mark from tenant's tables (""
// for the global copies), which other tests expect to hold the sentinel
// only.
func (e *env) wtScrub(t testing.TB, tenant, mark string) {
	t.Helper()
	like := mark + "-%"
	for _, q := range []string{
		"DELETE FROM " + e.table(tenant, "post_tags") + " WHERE tag_id IN (SELECT id FROM " + e.table(tenant, "tags") + " WHERE name LIKE ?)",
		"DELETE FROM " + e.table(tenant, "tags") + " WHERE name LIKE ?",
		"DELETE FROM " + e.table(tenant, "comments") + " WHERE body LIKE ?",
		"DELETE FROM " + e.table(tenant, "audit_logs") + " WHERE action LIKE ?",
		"DELETE FROM " + e.table(tenant, "posts") + " WHERE title LIKE ?",
	} {
		if err := e.admin().Exec(q, like).Error; err != nil {
			t.Errorf("%s: scrubbing %q: %v", e.tg, tenant, err)
		}
	}
	_ = e.admin().Exec("DELETE FROM "+e.table(tenant, "audit_logs")+" WHERE action LIKE ?", "create post "+like)
}

// TestWithTenantRefusalNamesBothScopes checks the refusal's error: a
// *StatementError wrapping ErrCrossTenant that carries the tenant and names
// what the context holds.
func TestWithTenantRefusalNamesBothScopes(t *testing.T) {
	e := newEnv(t, target{engine: "sqlite", strategy: kirayedar.StrategyPrefix}, nil)
	for _, c := range []struct {
		name        string
		db          *gorm.DB
		tenant, say string
	}{
		{"WithTenant over a tenant", e.db.WithContext(ctxFor("beta")).Scopes(kirayedar.WithTenant("alpha")), "alpha", `"beta"`},
		{"WithTenant over global", e.db.WithContext(kirayedar.GlobalContext(context.Background())).Scopes(kirayedar.WithTenant("alpha")), "alpha", "global"},
		{"WithTenant twice", e.db.Scopes(kirayedar.WithTenant("alpha"), kirayedar.WithTenant("beta")), "beta", `"alpha"`},
		{"Global over a tenant", e.db.WithContext(ctxFor("beta")).Scopes(kirayedar.Global()), "beta", "Global"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			sent, begins := e.sentDuring(func() { err = c.db.Find(&[]Post{}).Error })
			var se *kirayedar.StatementError
			if !errors.As(err, &se) || !errors.Is(err, kirayedar.ErrCrossTenant) {
				t.Fatalf("got %v, want a *StatementError wrapping ErrCrossTenant", err)
			}
			if se.Tenant != c.tenant || !strings.Contains(err.Error(), c.say) {
				t.Errorf("got %q (tenant %q), want tenant %q and a message naming %s", err, se.Tenant, c.tenant, c.say)
			}
			if sent+begins != 0 {
				t.Errorf("%d statements reached the database", sent+begins)
			}
		})
	}
	// The same scope twice, or over its own tenant, is no conflict.
	if err := e.db.WithContext(ctxFor("alpha")).Scopes(kirayedar.WithTenant("alpha"), kirayedar.WithTenant("alpha")).
		Model(&Post{}).Count(new(int64)).Error; err != nil && errors.Is(err, kirayedar.ErrCrossTenant) {
		t.Errorf("WithTenant over its own tenant: %v", err)
	}
}

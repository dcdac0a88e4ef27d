package tests

import (
	"errors"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar"
)

// The test domain. Every tenant row carries the tenant it was written for, so
// a row that landed in the wrong tenant's table is visible to a check.

// Plan is a global model: one table, never qualified.
type Plan struct {
	ID   uint
	Name string `gorm:"size:100"`
}

// Company is a tenant table discovered through Post.Company (belongs-to).
type Company struct {
	ID uint
	Stamp
	Name string `gorm:"size:100"`
}

// Post is the main tenant model: soft delete, an index, a belongs-to, a
// many2many and a has-many, and hooks.
type Post struct {
	ID        uint
	Tenant    string `gorm:"size:64;index"`
	Title     string `gorm:"size:200;index"`
	Views     int
	CompanyID *uint
	Company   *Company
	Tags      []Tag `gorm:"many2many:post_tags"`
	Comments  []Comment
	DeletedAt gorm.DeletedAt `gorm:"index"`
}

// Comment is a has-many of Post with a nested belongs-to (Author).
type Comment struct {
	ID uint
	Stamp
	PostID   uint
	Body     string `gorm:"size:200"`
	AuthorID *uint
	Author   *Author
}

// Author is reached only through Comment.Author.
type Author struct {
	ID uint
	Stamp
	Name string `gorm:"size:100"`
}

// Tag is the other side of Post.Tags; its name is unique per tenant.
type Tag struct {
	ID uint
	Stamp
	Name string `gorm:"size:100;uniqueIndex"`
}

// Invoice names its own table, bypassing GORM's naming strategy.
type Invoice struct {
	ID uint
	Stamp
	Amount int
}

func (Invoice) TableName() string { return "billing_invoices" }

// AuditLog rows are written by Post's AfterCreate hook, inside the same
// statement chain, so hooks are routed too.
type AuditLog struct {
	ID uint
	Stamp
	Action string `gorm:"size:100;index:idx_audit_action"` // a named index: unique per schema on PostgreSQL
}

var errWrongTenant = errors.New("hook saw a context for another tenant")

// Stamp records the tenant a row was written for. Its hook fills it from the
// statement's context, so rows created through associations carry it too.
type Stamp struct {
	Tenant string `gorm:"size:64"`
}

// BeforeCreate stamps the row with the context's tenant.
func (s *Stamp) BeforeCreate(tx *gorm.DB) error {
	if tenant, ok := kirayedar.FromContext(tx.Statement.Context); ok && s.Tenant == "" {
		s.Tenant = tenant
	}
	return nil
}

// BeforeCreate stamps the row with the context's tenant when the caller left
// it empty, and refuses a row stamped for another tenant.
func (p *Post) BeforeCreate(tx *gorm.DB) error {
	tenant, ok := kirayedar.FromContext(tx.Statement.Context)
	if !ok {
		return nil // Global(): the row keeps what the caller set
	}
	if p.Tenant == "" {
		p.Tenant = tenant
	}
	if p.Tenant != tenant {
		return errWrongTenant
	}
	return nil
}

// AfterCreate writes an audit row through the hook's own statement.
func (p *Post) AfterCreate(tx *gorm.DB) error {
	return tx.Create(&AuditLog{Stamp: Stamp{p.Tenant}, Action: "create post " + p.Title}).Error
}

func tenantModels() []any { return []any{&Post{}, &Invoice{}, &AuditLog{}} }

// everyTenantModel lists the models behind tenantTables, the discovered ones
// too, for migrating the global copies by hand.
func everyTenantModel() []any {
	return []any{&Post{}, &Invoice{}, &AuditLog{}, &Company{}, &Comment{}, &Author{}, &Tag{}}
}
func globalModels() []any { return []any{&Plan{}} }

// tenantTables are every table a tenant has, as GORM names them.
var tenantTables = []string{"audit_logs", "authors", "billing_invoices", "comments", "companies", "post_tags", "posts", "tags"}

package kirayedar

import (
	"time"

	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar/dialect"
)

// The registry is one table in the global schema with a row per tenant. A row
// is "ready" once the tenant's tables exist. On MySQL, whose DDL commits on
// its own, a row is written as "provisioning" before the first DDL, so a
// Create cut off half-way leaves a mark that the next Create cleans up.
const (
	statusProvisioning = "provisioning"
	statusReady        = "ready"
)

type registry struct {
	table string // quoted, qualified name
	// namespaces: also require the tenant's schema in pg_namespace
	// (PostgreSQL, StrategySchema), so a schema dropped by hand shows.
	namespaces bool
}

func newRegistry(p *Plugin) registry {
	return registry{
		table:      p.engine.RegistryName(p.global, p.cfg.RegistryTable),
		namespaces: p.engine == dialect.Postgres && p.strategy == StrategySchema,
	}
}

// status returns the tenant's registry status, or "" when it has no row.
func (r registry) status(db *gorm.DB, tenant string) (string, error) {
	var statuses []string
	err := db.Raw("SELECT status FROM "+r.table+" WHERE id = ?", tenant).Scan(&statuses).Error
	if err != nil || len(statuses) == 0 {
		return "", err
	}
	return statuses[0], nil
}

func (r registry) insert(db *gorm.DB, tenant, status string) error {
	now := time.Now().UTC()
	var migrated *time.Time
	if status == statusReady {
		migrated = &now
	}
	return db.Exec("INSERT INTO "+r.table+" (id, status, created_at, migrated_at) VALUES (?, ?, ?, ?)",
		tenant, status, now, migrated).Error
}

// insertAttempt writes a "provisioning" row carrying the attempt's random
// token (in the fingerprint column, which a ready tenant's migration
// overwrites).
func (r registry) insertAttempt(db *gorm.DB, tenant, attempt string) error {
	return db.Exec("INSERT INTO "+r.table+" (id, status, fingerprint, created_at) VALUES (?, ?, ?, ?)",
		tenant, statusProvisioning, attempt, time.Now().UTC()).Error
}

// attemptStatus returns the status of the tenant's row if it is the row the
// given attempt wrote, and "" otherwise.
func (r registry) attemptStatus(db *gorm.DB, tenant, attempt string) (string, error) {
	var statuses []string
	err := db.Raw("SELECT status FROM "+r.table+" WHERE id = ? AND fingerprint = ?", tenant, attempt).Scan(&statuses).Error
	if err != nil || len(statuses) == 0 {
		return "", err
	}
	return statuses[0], nil
}

// migrated marks the tenant ready and records when its tables were last
// migrated.
func (r registry) migrated(db *gorm.DB, tenant string) error {
	return db.Exec("UPDATE "+r.table+" SET status = ?, migrated_at = ? WHERE id = ?",
		statusReady, time.Now().UTC(), tenant).Error
}

func (r registry) remove(db *gorm.DB, tenant string) error {
	return db.Exec("DELETE FROM "+r.table+" WHERE id = ?", tenant).Error
}

func (r registry) exists(db *gorm.DB, tenant string) (bool, error) {
	var n int64
	query := "SELECT COUNT(*) FROM " + r.table + " r WHERE r.id = ? AND r.status = ?"
	if r.namespaces {
		query = "SELECT COUNT(*) FROM " + r.table + " r JOIN pg_catalog.pg_namespace n ON n.nspname = r.id WHERE r.id = ? AND r.status = ?"
	}
	err := db.Raw(query, tenant, statusReady).Scan(&n).Error
	return n > 0, err
}

func (r registry) list(db *gorm.DB) ([]string, error) {
	query := "SELECT r.id FROM " + r.table + " r WHERE r.status = ? ORDER BY r.id"
	if r.namespaces {
		query = "SELECT r.id FROM " + r.table + " r JOIN pg_catalog.pg_namespace n ON n.nspname = r.id WHERE r.status = ? ORDER BY r.id"
	}
	ids := []string{}
	err := db.Raw(query, statusReady).Scan(&ids).Error
	return ids, err
}

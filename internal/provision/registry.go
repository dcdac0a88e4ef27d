package provision

import (
	"strings"
	"time"

	"gorm.io/gorm"
)

// The registry is one table in the global schema with a row per tenant. A row
// is "ready" once the tenant's tables exist. On MySQL, whose DDL commits on
// its own, a row is written as "provisioning" before the first DDL, so a
// Create cut off half-way leaves a mark that the next Create cleans up; a
// Rename marks the row "renaming" while it moves the tables.
//
// The fingerprint column holds the fingerprint the tenant was last migrated
// to, followed on MySQL by "/" and the random token of the Create attempt
// that wrote the row, which tells that attempt's row from any other.
const (
	statusProvisioning = "provisioning"
	statusReady        = "ready"
	statusRenaming     = "renaming"
	// statusMissing is never written: it is how a ready row whose schema was
	// dropped by hand reads (PostgreSQL, StrategySchema).
	statusMissing = "missing"
)

type registry struct {
	table string // quoted, qualified name
	// namespaces: also require the tenant's schema in pg_namespace
	// (PostgreSQL, StrategySchema), so a schema dropped by hand shows.
	namespaces bool
}

// registryRow is a tenant's row.
type registryRow struct {
	ID          string
	Status      string
	Fingerprint string
	CreatedAt   time.Time
	MigratedAt  *time.Time
}

// migratedTo returns the fingerprint the row's tenant was last migrated to,
// or "" when the row records none (rows written before fingerprints).
func (r registryRow) migratedTo() string {
	fp, _, _ := strings.Cut(r.Fingerprint, "/")
	if len(fp) != fingerprintLen || strings.Trim(fp, "0123456789abcdef") != "" {
		return ""
	}
	return fp
}

const registryColumns = "r.id, r.status, r.fingerprint, r.created_at, r.migrated_at"

// row returns the tenant's row; ok is false when it has none.
func (r registry) row(db *gorm.DB, tenant string) (row registryRow, ok bool, err error) {
	var rows []registryRow
	err = db.Raw("SELECT "+registryColumns+" FROM "+r.table+" r WHERE r.id = ?", tenant).Scan(&rows).Error
	if err != nil || len(rows) == 0 {
		return registryRow{}, false, err
	}
	return rows[0], true, nil
}

// status returns the tenant's registry status, or "" when it has no row.
func (r registry) status(db *gorm.DB, tenant string) (string, error) {
	row, _, err := r.row(db, tenant)
	return row.Status, err
}

// requireAbsent refuses, with ErrTenantExists, a tenant that has a row,
// whatever its status.
func (r registry) requireAbsent(db *gorm.DB, tenant string) error {
	st, err := r.status(db, tenant)
	if err == nil && st != "" {
		err = ErrTenantExists
	}
	return err
}

// requirePresent refuses, with ErrTenantNotFound, a tenant without a row.
func (r registry) requirePresent(db *gorm.DB, tenant string) error {
	st, err := r.status(db, tenant)
	if err == nil && st == "" {
		err = ErrTenantNotFound
	}
	return err
}

// insert writes a ready row for a tenant migrated to fingerprint.
func (r registry) insert(db *gorm.DB, tenant, fingerprint string) error {
	now := time.Now().UTC()
	return db.Exec("INSERT INTO "+r.table+" (id, status, fingerprint, created_at, migrated_at) VALUES (?, ?, ?, ?, ?)",
		tenant, statusReady, fingerprint, now, now).Error
}

// insertAttempt writes a "provisioning" row carrying the attempt's token.
func (r registry) insertAttempt(db *gorm.DB, tenant, attempt string) error {
	return db.Exec("INSERT INTO "+r.table+" (id, status, fingerprint, created_at) VALUES (?, ?, ?, ?)",
		tenant, statusProvisioning, "/"+attempt, time.Now().UTC()).Error
}

// attemptStatus returns the status of the tenant's row if it is the row the
// given attempt wrote, and "" otherwise.
func (r registry) attemptStatus(db *gorm.DB, tenant, attempt string) (string, error) {
	var statuses []string
	err := db.Raw("SELECT status FROM "+r.table+" WHERE id = ? AND fingerprint LIKE ?", tenant, "%/"+attempt).Scan(&statuses).Error
	if err != nil || len(statuses) == 0 {
		return "", err
	}
	return statuses[0], nil
}

// migrated marks the tenant ready, migrated to fingerprint now. A fingerprint
// may carry an attempt token ("<fingerprint>/<token>").
func (r registry) migrated(db *gorm.DB, tenant, fingerprint string) error {
	return db.Exec("UPDATE "+r.table+" SET status = ?, fingerprint = ?, migrated_at = ? WHERE id = ?",
		statusReady, fingerprint, time.Now().UTC(), tenant).Error
}

// markRenaming marks a row "renaming" and records the rename's target in its
// fingerprint column (">" + to: the column has room for an ID, not for an ID
// and a fingerprint), so that the same Rename, called again after a process
// died, knows what it was doing. finishRename writes the fingerprint back.
func (r registry) markRenaming(db *gorm.DB, from, to string) error {
	return db.Exec("UPDATE "+r.table+" SET status = ?, fingerprint = ? WHERE id = ?",
		statusRenaming, ">"+to, from).Error
}

// finishRename moves a "renaming" row to its new ID, ready, migrated to
// fingerprint ("" when it is not known any more: the next MigrateAll
// migrates the tenant once).
func (r registry) finishRename(db *gorm.DB, from, to, fingerprint string) error {
	return db.Exec("UPDATE "+r.table+" SET id = ?, status = ?, fingerprint = ? WHERE id = ?",
		to, statusReady, fingerprint, from).Error
}

// renameTarget returns the target a "renaming" row recorded, or "".
func (r registryRow) renameTarget() string {
	to, _ := strings.CutPrefix(r.Fingerprint, ">")
	if to == r.Fingerprint {
		return ""
	}
	return to
}

// restoreReady makes a row ready again with the fingerprint it had, as an
// undone rename leaves it.
func (r registry) restoreReady(db *gorm.DB, tenant, fingerprint string) error {
	return db.Exec("UPDATE "+r.table+" SET status = ?, fingerprint = ? WHERE id = ?", statusReady, fingerprint, tenant).Error
}

// rename moves a row to a new ID and marks it ready.
func (r registry) rename(db *gorm.DB, from, to string) error {
	return db.Exec("UPDATE "+r.table+" SET id = ?, status = ? WHERE id = ?", to, statusReady, from).Error
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

// all returns every row, ready or not, sorted by ID: one query. On
// PostgreSQL under StrategySchema a ready row whose schema is gone reads
// "missing", as Exists and List do not report it.
func (r registry) all(db *gorm.DB) ([]registryRow, error) {
	rows := []registryRow{}
	query := "SELECT " + registryColumns + " FROM " + r.table + " r ORDER BY r.id"
	if r.namespaces {
		query = "SELECT r.id, CASE WHEN r.status = '" + statusReady + "' AND n.nspname IS NULL THEN '" + statusMissing + "' ELSE r.status END AS status," +
			" r.fingerprint, r.created_at, r.migrated_at FROM " + r.table + " r LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = r.id ORDER BY r.id"
	}
	err := db.Raw(query).Scan(&rows).Error
	return rows, err
}

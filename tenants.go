package kirayedar

import (
	"context"
	"fmt"
	"time"
)

// TenantInfo describes one tenant as the registry records it.
type TenantInfo struct {
	ID string `json:"id"`
	// Status is "ready"; "provisioning" for a Create under way on MySQL
	// or cut off there (the next Create cleans it up); "renaming" for a
	// Rename under way on MySQL or cut off (the same Rename called again
	// finishes it); or "missing" for a ready tenant whose schema is gone
	// (PostgreSQL, StrategySchema), which Exists and List leave out too.
	Status string `json:"status"`
	// Current reports whether the tenant was last migrated to the tenant
	// models' current fingerprint; a ready tenant that is not is behind,
	// and MigrateAll will migrate it.
	Current     bool       `json:"current"`
	Fingerprint string     `json:"fingerprint"`
	CreatedAt   time.Time  `json:"created_at"`
	MigratedAt  *time.Time `json:"migrated_at,omitempty"`
}

// Tenants returns every tenant in the registry, sorted by ID, whatever its
// status, with one query.
func (pr *Provisioner) Tenants(ctx context.Context) ([]TenantInfo, error) {
	rows, err := pr.reg.all(pr.global(ctx))
	if err != nil {
		return nil, fmt.Errorf("kirayedar: reading the registry: %w", err)
	}
	current := pr.p.Fingerprint()
	infos := make([]TenantInfo, len(rows))
	for i, r := range rows {
		infos[i] = TenantInfo{
			ID:          r.ID,
			Status:      r.Status,
			Current:     r.Status == statusReady && r.migratedTo() == current,
			Fingerprint: r.migratedTo(),
			CreatedAt:   r.CreatedAt,
			MigratedAt:  r.MigratedAt,
		}
	}
	return infos, nil
}

package provision

import (
	"context"
	"fmt"
	"time"
)

// TenantInfo describes one tenant as the registry records it; the root
// package's TenantInfo, which it converts to, documents each field.
type TenantInfo struct {
	ID          string
	Status      string
	Current     bool
	Fingerprint string
	CreatedAt   time.Time
	MigratedAt  *time.Time
}

// Tenants returns every tenant in the registry, sorted by ID, whatever its
// status, with one query.
func (pr *Provisioner) Tenants(ctx context.Context) ([]TenantInfo, error) {
	rows, err := pr.reg.all(pr.global(ctx))
	if err != nil {
		return nil, fmt.Errorf("kirayedar: reading the registry: %w", err)
	}
	current := pr.cfg.Fingerprint()
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

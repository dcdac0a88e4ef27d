package main

import "time"

// Plan is global: one table every tenant shares.
type Plan struct {
	ID         uint   `json:"id"`
	Name       string `gorm:"size:50;uniqueIndex" json:"name"`
	PriceCents int    `json:"price_cents"`
}

// Project is a tenant model; its tasks, their labels and the task_labels
// join table are tenant tables too.
type Project struct {
	ID        uint      `json:"id"`
	Name      string    `gorm:"size:100" json:"name"`
	Tasks     []Task    `json:"tasks,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Task belongs to a project and has labels (many2many).
type Task struct {
	ID        uint      `json:"id"`
	ProjectID uint      `gorm:"index" json:"project_id"`
	Title     string    `gorm:"size:200" json:"title"`
	Done      bool      `json:"done"`
	Labels    []Label   `gorm:"many2many:task_labels" json:"labels,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Label tags tasks.
type Label struct {
	ID   uint   `json:"id"`
	Name string `gorm:"size:50" json:"name"`
}

func tenantModels() []any { return []any{&Project{}, &Task{}, &Label{}} }
func globalModels() []any { return []any{&Plan{}} }

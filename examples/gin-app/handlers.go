package main

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/kirayedar/kirayedar"
	"github.com/kirayedar/kirayedar/examples/gin-app/kirayedargin"
	"github.com/kirayedar/kirayedar/resolver"
)

// What a handler answers for a body it cannot use.
const (
	signupUsage  = `send {"tenant": "<id>"}`
	projectUsage = `send {"name": "..."}`
	taskUsage    = `send {"title": "...", "labels": ["..."]}`
)

// router wires the routes: sign-up on the primary and admin hosts, the
// tenant's CRUD on tenant hosts, the operator's views on the admin host.
func (a *app) router() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	tenancy := kirayedargin.Middleware(a.res, kirayedargin.SkipPaths("/healthz"))
	if a.noResolver {
		tenancy = a.unchecked
	}
	r.Use(gin.Recovery(), a.requestLog, boundBody, tenancy)
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"ok": true}) })

	public := r.Group("/", only(resolver.KindPrimary, resolver.KindAdmin))
	public.POST("/signup", a.signup)
	public.GET("/plans", a.plans)

	admin := r.Group("/admin", only(resolver.KindAdmin))
	admin.GET("/tenants", a.listTenants)
	admin.GET("/tenants/:id", a.tenantStatus)

	tenant := r.Group("/", only(resolver.KindTenant))
	tenant.GET("/projects", a.listProjects)
	tenant.POST("/projects", a.createProject)
	tenant.GET("/projects/:id", a.getProject)
	tenant.PUT("/projects/:id", a.updateProject)
	tenant.DELETE("/projects/:id", a.deleteProject)
	tenant.POST("/projects/:id/tasks", a.createTask)
	tenant.GET("/tasks", a.listTasks)
	return r
}

// only lets requests of the given kinds through and answers 404 otherwise:
// tenant routes do not exist on the admin host, and the reverse.
func only(kinds ...resolver.Kind) gin.HandlerFunc {
	return func(c *gin.Context) {
		d := kirayedargin.Decision(c)
		for _, k := range kinds {
			if d.Kind == k {
				c.Next()
				return
			}
		}
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": "not_found", "message": "no such route on this host"})
	}
}

func (a *app) requestLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	d := kirayedargin.Decision(c)
	a.log.Info("request", "method", c.Request.Method, "host", c.Request.Host, "path", c.Request.URL.Path,
		"status", c.Writer.Status(), "kind", d.Kind.String(), "tenant", d.Tenant, "duration", time.Since(start))
}

// db is the database for the request: its tenant's tables, or the global
// ones on the primary and admin hosts.
func (a *app) dbFor(c *gin.Context) *gorm.DB { return a.db.WithContext(c.Request.Context()) }

// signup provisions a tenant in the request: 201 when created, 409 when it
// exists, 400 for an invalid ID.
func (a *app) signup(c *gin.Context) {
	var in struct {
		Tenant string `json:"tenant"`
	}
	if !bindJSON(c, &in, signupUsage) || !required(c, in.Tenant != "", signupUsage) {
		return
	}
	err := a.prov.Create(c.Request.Context(), in.Tenant)
	switch {
	case err == nil:
		c.JSON(http.StatusCreated, gin.H{"tenant": in.Tenant, "host": in.Tenant + "." + a.res.PrimaryDomain()})
	case errors.Is(err, kirayedar.ErrInvalidTenantID):
		c.JSON(http.StatusBadRequest, gin.H{"error": "invalid_tenant", "message": err.Error()})
	case errors.Is(err, kirayedar.ErrTenantExists):
		c.JSON(http.StatusConflict, gin.H{"error": "tenant_exists", "message": err.Error()})
	default:
		a.fail(c, err)
	}
}

func (a *app) plans(c *gin.Context) {
	var plans []Plan
	if err := a.dbFor(c).Order("id").Find(&plans).Error; err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": plans})
}

func (a *app) listTenants(c *gin.Context) {
	tenants, err := a.prov.Tenants(c.Request.Context())
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": tenants})
}

func (a *app) tenantStatus(c *gin.Context) {
	tenants, err := a.prov.Tenants(c.Request.Context())
	if err != nil {
		a.fail(c, err)
		return
	}
	for _, t := range tenants {
		if t.ID == c.Param("id") {
			c.JSON(http.StatusOK, t)
			return
		}
	}
	c.JSON(http.StatusNotFound, gin.H{"error": "unknown_tenant"})
}

// page reads ?page= and ?per_page= (1-based, at most 100 a page).
func page(c *gin.Context) (page, perPage int) {
	page, _ = strconv.Atoi(c.DefaultQuery("page", "1"))
	perPage, _ = strconv.Atoi(c.DefaultQuery("per_page", "20"))
	return max(page, 1), min(max(perPage, 1), 100)
}

func (a *app) listProjects(c *gin.Context) { listPage[Project](a, c, nil) }

// listPage answers one page of T's rows in id order, with the total count;
// with, when set, adds preloads to the page's query.
func listPage[T any](a *app, c *gin.Context, with func(*gorm.DB) *gorm.DB) {
	p, per := page(c)
	var total int64
	var items []T
	db := a.dbFor(c)
	if err := db.Model(new(T)).Count(&total).Error; err != nil {
		a.fail(c, err)
		return
	}
	q := db.Order("id").Limit(per).Offset((p - 1) * per)
	if with != nil {
		q = with(q)
	}
	if err := q.Find(&items).Error; err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": items, "page": p, "per_page": per, "total": total})
}

func (a *app) createProject(c *gin.Context) {
	var in struct {
		Name string `json:"name"`
	}
	if !bindJSON(c, &in, projectUsage) || !required(c, in.Name != "", projectUsage) || !withinLimit(c, "name", in.Name, projectNameLimit) {
		return
	}
	p := Project{Name: in.Name}
	if err := a.dbFor(c).Create(&p).Error; err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, p)
}

func (a *app) findProject(c *gin.Context, preload bool) (*Project, bool) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil {
		c.JSON(http.StatusNotFound, gin.H{"error": "not_found"})
		return nil, false
	}
	db := a.dbFor(c)
	if preload {
		db = db.Preload("Tasks", func(db *gorm.DB) *gorm.DB { return db.Order("id") }).Preload("Tasks.Labels")
	}
	var p Project
	if err := db.First(&p, id).Error; errors.Is(err, gorm.ErrRecordNotFound) {
		c.JSON(http.StatusNotFound, gin.H{"error": "not_found"})
		return nil, false
	} else if err != nil {
		a.fail(c, err)
		return nil, false
	}
	return &p, true
}

func (a *app) getProject(c *gin.Context) {
	if p, ok := a.findProject(c, true); ok {
		c.JSON(http.StatusOK, p)
	}
}

func (a *app) updateProject(c *gin.Context) {
	p, ok := a.findProject(c, false)
	if !ok {
		return
	}
	var in struct {
		Name string `json:"name"`
	}
	if !bindJSON(c, &in, projectUsage) || !required(c, in.Name != "", projectUsage) || !withinLimit(c, "name", in.Name, projectNameLimit) {
		return
	}
	if err := a.dbFor(c).Model(p).Update("name", in.Name).Error; err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func (a *app) deleteProject(c *gin.Context) {
	p, ok := a.findProject(c, false)
	if !ok {
		return
	}
	err := a.dbFor(c).Transaction(func(tx *gorm.DB) error {
		var tasks []Task
		if err := tx.Where("project_id = ?", p.ID).Find(&tasks).Error; err != nil {
			return err
		}
		for i := range tasks {
			if err := tx.Model(&tasks[i]).Association("Labels").Clear(); err != nil {
				return err
			}
		}
		if err := tx.Where("project_id = ?", p.ID).Delete(&Task{}).Error; err != nil {
			return err
		}
		return tx.Delete(p).Error
	})
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *app) createTask(c *gin.Context) {
	p, ok := a.findProject(c, false)
	if !ok {
		return
	}
	var in struct {
		Title  string   `json:"title"`
		Labels []string `json:"labels"`
	}
	if !bindJSON(c, &in, taskUsage) || !required(c, in.Title != "", taskUsage) || !withinLimit(c, "title", in.Title, taskTitleLimit) {
		return
	}
	if len(in.Labels) > labelsPerTask {
		c.JSON(http.StatusUnprocessableEntity, gin.H{"error": "too_many", "field": "labels",
			"message": fmt.Sprintf("labels has %d entries; the limit is %d", len(in.Labels), labelsPerTask)})
		return
	}
	for _, name := range in.Labels {
		if !withinLimit(c, "labels", name, labelNameLimit) {
			return
		}
	}
	task := Task{ProjectID: p.ID, Title: in.Title}
	err := a.dbFor(c).Transaction(func(tx *gorm.DB) error {
		for _, name := range in.Labels {
			var l Label
			if err := tx.Where(Label{Name: name}).FirstOrCreate(&l).Error; err != nil {
				return err
			}
			task.Labels = append(task.Labels, l)
		}
		return tx.Create(&task).Error
	})
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, task)
}

func (a *app) listTasks(c *gin.Context) {
	listPage[Task](a, c, func(db *gorm.DB) *gorm.DB { return db.Preload("Labels") })
}

// fail answers 500 and logs the cause, which the client does not see.
func (a *app) fail(c *gin.Context, err error) {
	a.log.Error("request failed", "path", c.Request.URL.Path, "host", c.Request.Host, "error", err)
	c.JSON(http.StatusInternalServerError, gin.H{"error": "internal_error"})
}

// unchecked takes the host's first label as the tenant without a check: the
// baseline the load test compares the resolver against. Never use it.
func (a *app) unchecked(c *gin.Context) {
	host := resolver.NormalizeHost(c.Request.Host)
	label, _, _ := strings.Cut(host, ".")
	d := resolver.Decision{Kind: resolver.KindTenant, Tenant: label}
	if host == a.res.PrimaryDomain() {
		d = resolver.Decision{Kind: resolver.KindPrimary}
	}
	c.Request = c.Request.WithContext(resolver.WithDecision(c.Request.Context(), d))
	c.Next()
}

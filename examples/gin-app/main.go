// Command gin-app is Kirayedar's reference web application: tenants sign up
// over HTTP, each tenant's requests arrive on <tenant>.<domain> and see only
// that tenant's rows, and the admin host sees the tenants and the global
// tables.
//
// With no flags it runs on an embedded SQLite file (prefix strategy), no
// server needed:
//
//	go run .
//
// With -dsn it runs on PostgreSQL or MySQL/MariaDB (schema strategy):
//
//	go run . -dsn 'host=127.0.0.1 user=postgres dbname=test sslmode=disable'
//
// "tenants" runs the operator commands on the same database (flags first):
//
//	go run . -dsn '...' tenants status
//
// See README.md for a session with curl.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/glebarez/sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/kirayedar/kirayedar"
	"github.com/kirayedar/kirayedar/cli"
	"github.com/kirayedar/kirayedar/resolver"
	"github.com/kirayedar/kirayedar/telemetry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	dsn := flag.String("dsn", os.Getenv("GIN_APP_DSN"), "PostgreSQL or MySQL DSN; empty: an SQLite file (env GIN_APP_DSN)")
	sqlitePath := flag.String("sqlite", filepath.Join(os.TempDir(), "kirayedar-gin-app.db"), "the SQLite file without -dsn")
	domain := flag.String("domain", "example.test", "primary domain: <tenant>.<domain> is a tenant's host")
	admin := flag.String("admin", "", "admin host (default admin.<domain>)")
	noResolver := flag.Bool("no-resolver", false, "for load comparisons only: trust the host's first label as the tenant, unchecked")
	flag.Parse()
	if *admin == "" {
		*admin = "admin." + *domain
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	open := func(ctx context.Context) (*kirayedar.Provisioner, error) {
		db, err := openDB(*dsn, *sqlitePath, log)
		if err != nil {
			return nil, err
		}
		return kirayedar.NewProvisioner(db.WithContext(ctx))
	}
	if flag.Arg(0) == "tenants" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		os.Exit(cli.Main(ctx, open, flag.Args()[1:], os.Stdout, os.Stderr))
	}

	if err := serve(*addr, *dsn, *sqlitePath, *domain, *admin, *noResolver, log); err != nil {
		log.Error("gin-app stopped", "error", err)
		os.Exit(1)
	}
}

// serve runs the app until SIGINT or SIGTERM, then drains requests.
func serve(addr, dsn, sqlitePath, domain, admin string, noResolver bool, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	db, err := openDB(dsn, sqlitePath, log)
	if err != nil {
		return err
	}
	app, err := newApp(db, domain, admin, log)
	if err != nil {
		return err
	}
	app.noResolver = noResolver
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: app.router(), ReadHeaderTimeout: 5 * time.Second}
	log.Info("gin-app listening", "addr", ln.Addr().String(), "domain", domain, "admin", admin,
		"engine", string(app.prov.Plugin().Engine()), "strategy", app.prov.Plugin().Strategy().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("gin-app shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if sqlDB, err := db.DB(); err == nil {
		_ = sqlDB.Close()
	}
	return nil
}

// openDB opens the database with the plugin registered: SQLite with the
// prefix strategy without a DSN, otherwise PostgreSQL or MySQL with the
// schema strategy. The global tables are migrated and the plans seeded.
func openDB(dsn, sqlitePath string, log *slog.Logger) (*gorm.DB, error) {
	var dialector gorm.Dialector
	switch {
	case dsn == "":
		dialector = sqlite.Open(sqlitePath + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	case strings.Contains(dsn, "@tcp(") || strings.HasPrefix(dsn, "mysql://"):
		mc, err := mysqldriver.ParseDSN(strings.TrimPrefix(dsn, "mysql://"))
		if err != nil {
			return nil, fmt.Errorf("parsing the MySQL DSN: %w", err)
		}
		mc.ParseTime = true
		dialector = mysql.Open(mc.FormatDSN())
	default:
		dialector = postgres.Open(dsn)
	}
	db, err := gorm.Open(dialector, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	if dsn == "" {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.SetMaxOpenConns(4)
		}
	}
	if err := db.Use(kirayedar.New(kirayedar.Config{
		TenantModels: tenantModels(),
		GlobalModels: globalModels(),
		Telemetry:    telemetry.Options{Logger: log},
	})); err != nil {
		return nil, fmt.Errorf("registering the plugin: %w", err)
	}
	global := db.WithContext(kirayedar.GlobalContext(context.Background()))
	if err := global.AutoMigrate(globalModels()...); err != nil {
		return nil, fmt.Errorf("migrating the global tables: %w", err)
	}
	for _, p := range []Plan{{Name: "free"}, {Name: "pro", PriceCents: 2900}} {
		if err := global.Where(Plan{Name: p.Name}).FirstOrCreate(&p).Error; err != nil {
			return nil, fmt.Errorf("seeding plans: %w", err)
		}
	}
	return db, nil
}

// app is the running application.
type app struct {
	db   *gorm.DB
	prov *kirayedar.Provisioner
	res  *resolver.Resolver
	log  *slog.Logger
	// noResolver replaces the resolver with trust in the host's first
	// label (TestLoad's baseline).
	noResolver bool
}

func newApp(db *gorm.DB, domain, admin string, log *slog.Logger) (*app, error) {
	prov, err := kirayedar.NewProvisioner(db.WithContext(kirayedar.GlobalContext(context.Background())))
	if err != nil {
		return nil, err
	}
	res, err := resolver.New(resolver.Config{PrimaryDomain: domain, AdminHosts: []string{admin}, Provisioner: prov})
	if err != nil {
		return nil, err
	}
	return &app{db: db, prov: prov, res: res, log: log}, nil
}

// Command quickstart walks through Kirayedar, the GORM plugin for
// schema-based multi-tenancy, end to end: register the plugin, provision two
// tenants, write and read under each, and watch what it refuses.
//
// With no flags it runs on an embedded SQLite file (pure Go, no server
// needed) with the prefix strategy, so every tenant's tables live side by
// side as "acme__posts", "globex__posts", ...:
//
//	go run ./examples/quickstart
//
// Give it a DSN to run the same flow on PostgreSQL (a schema per tenant) or
// MySQL/MariaDB (a database per tenant). The driver is inferred from the DSN
// unless -driver says otherwise:
//
//	go run ./examples/quickstart -dsn 'host=127.0.0.1 user=postgres dbname=test sslmode=disable'
//	go run ./examples/quickstart -dsn 'root@tcp(127.0.0.1:3306)/test?parseTime=true'
//
// The DSN and driver may also come from KIRAYEDAR_DSN and KIRAYEDAR_DRIVER.
// Add -v to see the SQL that GORM sends, as the plugin routed it.
//
// "tenants" runs the operator commands of package cli on the same models
// (flags go before it); without -dsn they keep their tenants in
// kirayedar-quickstart.db in the temporary directory, across runs:
//
//	go run ./examples/quickstart tenants create acme globex
//	go run ./examples/quickstart tenants migrate --all
//	go run ./examples/quickstart -dsn '...' tenants status -o json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/glebarez/sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/kirayedar/kirayedar"
	"github.com/kirayedar/kirayedar/cli"
)

// Plan is a global model: one "plans" table shared by every tenant.
type Plan struct {
	ID   uint
	Name string
}

// Post is a tenant model: every tenant has its own "posts" table. Its
// relations (comments, tags and the post_tags join table) become tenant
// tables too, without being listed in the configuration.
type Post struct {
	ID       uint
	Title    string
	Tags     []Tag `gorm:"many2many:post_tags"`
	Comments []Comment
}

// Comment belongs to a Post (has-many from Post's side).
type Comment struct {
	ID     uint
	PostID uint
	Body   string
}

// Tag is attached to posts through the post_tags join table.
type Tag struct {
	ID   uint
	Name string
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("quickstart: ")

	dsn := flag.String("dsn", os.Getenv("KIRAYEDAR_DSN"),
		"PostgreSQL or MySQL/MariaDB DSN; empty runs on embedded SQLite (env KIRAYEDAR_DSN)")
	driver := flag.String("driver", os.Getenv("KIRAYEDAR_DRIVER"),
		"sqlite, postgres or mysql; inferred from -dsn when empty (env KIRAYEDAR_DRIVER)")
	verbose := flag.Bool("v", false, "log the SQL GORM sends")
	flag.Parse()

	if flag.Arg(0) == "tenants" {
		open := openProvisioner(*driver, *dsn, *verbose)
		os.Exit(cli.Main(context.Background(), open, flag.Args()[1:], os.Stdout, os.Stderr))
	}
	if err := run(*driver, *dsn, *verbose); err != nil {
		log.Fatal(err)
	}
}

func run(driver, dsn string, verbose bool) error {
	db, cleanup, err := open(driver, dsn, verbose)
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Printf("connected to %s\n", db.Dialector.Name())

	// 1. Register the plugin. TenantModels live once per tenant (with their
	// relations); GlobalModels live once, in the global schema, and are never
	// qualified. StrategyDefault picks the schema strategy on PostgreSQL and
	// MySQL and the prefix strategy on SQLite.
	plugin := newPlugin()
	if err := db.Use(plugin); err != nil {
		return fmt.Errorf("registering the plugin: %w", err)
	}
	fmt.Printf("engine %s, strategy %s, global schema %q\n", plugin.Engine(), plugin.Strategy(), plugin.GlobalSchema())
	fmt.Printf("tenant tables: %s\n", strings.Join(plugin.TenantTables(), ", "))

	// 2. Global tables are migrated and used on the plain *gorm.DB: no tenant
	// is needed for a table the plugin knows to be global.
	if err := db.AutoMigrate(&Plan{}); err != nil {
		return fmt.Errorf("migrating plans: %w", err)
	}
	for _, name := range []string{"free", "pro"} {
		// FirstOrCreate keeps reruns against a server from seeding twice.
		if err := db.Where(Plan{Name: name}).FirstOrCreate(&Plan{}).Error; err != nil {
			return fmt.Errorf("seeding plan %s: %w", name, err)
		}
	}
	fmt.Println("\n== global table")
	fmt.Println("seeded plans: free, pro")

	// 3. The provisioner creates, migrates and drops tenants and records them
	// in a registry table in the global schema.
	ctx := context.Background()
	prov, err := kirayedar.NewProvisioner(db)
	if err != nil {
		return err
	}
	fmt.Println("\n== provisioning")
	for _, tenant := range []string{"acme", "globex"} {
		// Start from scratch, so the example can be rerun against a server.
		if err := prov.Drop(ctx, tenant); err != nil && !errors.Is(err, kirayedar.ErrTenantNotFound) {
			return err
		}
		if err := prov.Create(ctx, tenant); err != nil {
			return err
		}
		fmt.Printf("created tenant %s\n", tenant)
	}

	// 4. A context carries the tenant. Every statement GORM builds under it,
	// associations and preloads included, lands in that tenant's tables.
	acme := kirayedar.NewContext(ctx, "acme")
	globex := kirayedar.NewContext(ctx, "globex")

	fmt.Println("\n== writing under each tenant")
	seed := []struct {
		ctx    context.Context
		tenant string
		post   Post
	}{
		{acme, "acme", Post{
			Title:    "Acme ships rocket skates",
			Tags:     []Tag{{Name: "launch"}},
			Comments: []Comment{{Body: "Beep beep!"}},
		}},
		{globex, "globex", Post{
			Title:    "Globex opens a volcano office",
			Tags:     []Tag{{Name: "hiring"}},
			Comments: []Comment{{Body: "Great view."}},
		}},
	}
	for _, s := range seed {
		post := s.post
		if err := db.WithContext(s.ctx).Create(&post).Error; err != nil {
			return fmt.Errorf("creating a post for %s: %w", s.tenant, err)
		}
		fmt.Printf("%s: created post %d %q with a tag and a comment\n", s.tenant, post.ID, post.Title)
	}

	fmt.Println("\n== reading under each tenant: each sees only its own posts")
	for _, s := range seed {
		posts, err := loadPosts(db.WithContext(s.ctx))
		if err != nil {
			return fmt.Errorf("reading %s's posts: %w", s.tenant, err)
		}
		printPosts(s.tenant, posts)
		if len(posts) != 1 || posts[0].Title != s.post.Title {
			return fmt.Errorf("%s sees %d posts, want only its own", s.tenant, len(posts))
		}
	}

	// Global tables are never qualified, so a tenant context reads the one
	// shared plans table.
	var plans []Plan
	if err := db.WithContext(acme).Order("id").Find(&plans).Error; err != nil {
		return fmt.Errorf("reading plans under acme: %w", err)
	}
	fmt.Printf("acme reads the global plans: %s\n", planNames(plans))

	// 5. Fail closed: a statement on a tenant table without a tenant in its
	// context is refused before any SQL is sent.
	fmt.Println("\n== fail closed")
	var posts []Post
	err = db.WithContext(context.Background()).Find(&posts).Error
	if !errors.Is(err, kirayedar.ErrNoTenant) {
		return fmt.Errorf("reading posts without a tenant: got %v, want ErrNoTenant", err)
	}
	fmt.Printf("no tenant in context -> %v\n", err)

	// 6. The WithTenant scope runs one chain for a tenant, handy where no
	// request context is at hand (jobs, scripts).
	fmt.Println("\n== scopes and raw SQL")
	posts, err = loadPosts(db.Scopes(kirayedar.WithTenant("globex")))
	if err != nil {
		return fmt.Errorf("reading with the WithTenant scope: %w", err)
	}
	printPosts("WithTenant(\"globex\")", posts)

	// Hand-written SQL under a tenant names tables as the application always
	// has: the plugin rewrites them to the tenant's tables as the text is
	// sent ("acme"."posts", or "acme__posts" AS "posts").
	var count int64
	if err := db.WithContext(acme).Raw("SELECT count(*) FROM posts p JOIN comments c ON c.post_id = p.id").Scan(&count).Error; err != nil {
		return fmt.Errorf("counting acme's comments with raw SQL: %w", err)
	}
	fmt.Printf("hand-written SQL under acme: SELECT count(*) FROM posts p JOIN comments c ... -> %d\n", count)

	// Table names a tenant's table explicitly, for the tenant of a context.
	raw := db.WithContext(acme).Raw("SELECT count(*) FROM ?", kirayedar.Table(acme, "posts"))
	query := raw.Statement.SQL.String() // the SQL as built; GORM clears it once run
	if err := raw.Scan(&count).Error; err != nil {
		return fmt.Errorf("counting acme's posts with raw SQL: %w", err)
	}
	fmt.Printf("raw SQL under acme: %s -> %d\n", query, count)

	// 7. Lifecycle: creating a tenant twice is refused, and dropping one
	// removes its tables and its registry row.
	fmt.Println("\n== lifecycle")
	err = prov.Create(ctx, "acme")
	if !errors.Is(err, kirayedar.ErrTenantExists) {
		return fmt.Errorf("creating acme twice: got %v, want ErrTenantExists", err)
	}
	fmt.Printf("create acme again -> %v\n", err)

	if err := listTenants(ctx, prov); err != nil {
		return err
	}
	if err := prov.Drop(ctx, "globex"); err != nil {
		return err
	}
	fmt.Println("dropped tenant globex")
	if err := listTenants(ctx, prov); err != nil {
		return err
	}

	fmt.Println("\ndone")
	return nil
}

// newPlugin configures the plugin for this program's models.
func newPlugin() *kirayedar.Plugin {
	return kirayedar.New(kirayedar.Config{
		TenantModels: []any{&Post{}},
		GlobalModels: []any{&Plan{}},
	})
}

// openProvisioner opens the database for the tenants commands, when one of
// them needs it. Without a DSN it uses a SQLite file that outlives the run.
func openProvisioner(driver, dsn string, verbose bool) cli.OpenFunc {
	return func(ctx context.Context) (*kirayedar.Provisioner, error) {
		if dsn == "" && (driver == "" || driver == "sqlite") {
			// Immediate transactions, so concurrent migrations wait for
			// each other instead of failing with SQLITE_BUSY.
			driver = "sqlite"
			dsn = filepath.Join(os.TempDir(), "kirayedar-quickstart.db") +
				"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_txlock=immediate"
		}
		db, _, err := open(driver, dsn, verbose) // closed when the process exits
		if err != nil {
			return nil, err
		}
		if err := db.Use(newPlugin()); err != nil {
			return nil, fmt.Errorf("registering the plugin: %w", err)
		}
		return kirayedar.NewProvisioner(db.WithContext(ctx))
	}
}

// loadPosts reads the posts of whatever tenant db's context or scope names,
// with their tags and comments. The preload queries inherit the tenant.
func loadPosts(db *gorm.DB) ([]Post, error) {
	var posts []Post
	err := db.Preload("Tags").Preload("Comments").Order("id").Find(&posts).Error
	return posts, err
}

func printPosts(who string, posts []Post) {
	fmt.Printf("%s sees %d post(s)\n", who, len(posts))
	for _, p := range posts {
		var tags, comments []string
		for _, t := range p.Tags {
			tags = append(tags, t.Name)
		}
		for _, c := range p.Comments {
			comments = append(comments, fmt.Sprintf("%q", c.Body))
		}
		fmt.Printf("  #%d %q tags=[%s] comments=[%s]\n", p.ID, p.Title, strings.Join(tags, " "), strings.Join(comments, " "))
	}
}

func planNames(plans []Plan) string {
	names := make([]string, len(plans))
	for i, p := range plans {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

func listTenants(ctx context.Context, prov *kirayedar.Provisioner) error {
	ids, err := prov.List(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("tenants: [%s]\n", strings.Join(ids, " "))
	return nil
}

// open connects to the database that driver and dsn name, and returns a
// function that closes it (and removes the SQLite file, if one was made).
func open(driver, dsn string, verbose bool) (*gorm.DB, func(), error) {
	if driver == "" {
		driver = inferDriver(dsn)
	}
	level := logger.Silent
	if verbose {
		level = logger.Info
	}
	cfg := &gorm.Config{Logger: logger.Default.LogMode(level)}

	var dialector gorm.Dialector
	removeFile := func() {}
	switch driver {
	case "sqlite":
		if dsn == "" {
			// A fresh database file for every run, removed at the end.
			f, err := os.CreateTemp("", "kirayedar-quickstart-*.db")
			if err != nil {
				return nil, nil, err
			}
			path := f.Name()
			if err := f.Close(); err != nil {
				return nil, nil, err
			}
			removeFile = func() {
				for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
					_ = os.Remove(path + suffix)
				}
			}
			dsn = path + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)"
		}
		dialector = sqlite.Open(dsn)
	case "postgres":
		if dsn == "" {
			return nil, nil, errors.New("-driver postgres needs a -dsn")
		}
		dialector = postgres.Open(dsn)
	case "mysql", "mariadb":
		if dsn == "" {
			return nil, nil, errors.New("-driver mysql needs a -dsn")
		}
		// The provisioner's registry keeps timestamps, which the MySQL
		// driver scans into time.Time only with parseTime=true.
		mc, err := mysqldriver.ParseDSN(dsn)
		if err != nil {
			return nil, nil, fmt.Errorf("parsing the MySQL DSN: %w", err)
		}
		mc.ParseTime = true
		dialector = mysql.Open(mc.FormatDSN())
	default:
		return nil, nil, fmt.Errorf("unknown driver %q (want sqlite, postgres or mysql)", driver)
	}

	db, err := gorm.Open(dialector, cfg)
	if err != nil {
		removeFile()
		return nil, nil, fmt.Errorf("connecting (%s): %w", driver, err)
	}
	cleanup := func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
		removeFile()
	}
	return db, cleanup, nil
}

// inferDriver guesses the driver from the DSN: none means SQLite, URL and
// key=value DSNs mean PostgreSQL, anything else is a MySQL DSN.
func inferDriver(dsn string) string {
	switch {
	case dsn == "":
		return "sqlite"
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"),
		strings.Contains(dsn, "host="):
		return "postgres"
	}
	return "mysql"
}

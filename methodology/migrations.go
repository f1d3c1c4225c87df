package methodology

import (
	"embed"
	"io/fs"

	"github.com/opencarbon/opencarbon/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations creates the registry tables (versions, reviews, transitions,
// reviewers, factors).
var Migrations = store.Component{Name: "methodology", FS: mustSub(migrationFS, "migrations")}

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}

package methodology

import (
	"embed"

	"github.com/opencarbon/opencarbon/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations creates the registry tables (versions, reviews, transitions,
// reviewers, factors).
var Migrations = store.Component{Name: "methodology", FS: migrationFS, Dir: "migrations"}

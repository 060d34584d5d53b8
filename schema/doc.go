// Package schema holds schema.sql, the full DDL of a CoreScope database
// after every migration of package migrations, as etl/sqlite.(*DB).Schema
// prints it. It is generated, never edited: the test of this package fails
// when the migrations and schema.sql drift apart, and
//
//	go test ./schema/ -update
//
// rewrites it. Read it to see the current schema; change the schema by
// adding a migration.
package schema

import _ "embed"

// SQL is the content of schema.sql.
//
//go:embed schema.sql
var SQL string

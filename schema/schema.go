// Package schema maps input records onto a declared Power BI table: it finds each column's value,
// coerces it to the column type, checks it against the service's rules and encodes the row.
//
// CONTRACT STUB: implemented by the schema work.
package schema

import (
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// ColumnDef and TableDef are the Power BI wire shapes of a table definition.
type ColumnDef struct {
	Name     string `json:"name"`
	DataType string `json:"dataType"`
}

// TableDef is a table as Power BI's create-dataset and PUT-table calls expect it.
type TableDef struct {
	Name    string      `json:"name"`
	Columns []ColumnDef `json:"columns"`
}

// Table is a compiled table definition.
type Table struct{}

// FieldError says which column of a record failed and why.
type FieldError struct {
	Column string
	Reason string
}

func (e *FieldError) Error() string { return "column " + e.Column + ": " + e.Reason }

// Compile checks and compiles a configured table.
func Compile(t config.Table) (*Table, error) { panic("stub") }

// Def returns the table's Power BI definition (canonical dataType names).
func (t *Table) Def() TableDef { panic("stub") }

// Coerce maps rec (JSON values with numbers as json.Number, or CSV strings) onto the columns and
// returns the row as a JSON object. DateTime values are RFC 3339 UTC. now fills timestamp: ingest.
// A failure is a *FieldError (wrapped).
func (t *Table) Coerce(rec map[string]any, now time.Time) ([]byte, error) { panic("stub") }

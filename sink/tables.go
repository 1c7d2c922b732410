package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/pbi-pusher/pbi-pusher/schema"
)

// remoteTable is a table as GET tables returns it. Columns is nil when the service lists names only.
type remoteTable struct {
	Name    string             `json:"name"`
	Columns []schema.ColumnDef `json:"columns"`
}

// getTables lists the tables (with columns) of dataset id.
func (c *Client) getTables(ctx context.Context, d *dataset, id string) ([]remoteTable, error) {
	var list struct {
		Value []remoteTable `json:"value"`
	}
	cl := call{op: fmt.Sprintf("get tables of dataset %q", d.cfg.Name), method: http.MethodGet,
		path: "/datasets/" + pathEscape(id) + "/tables"}
	if err := c.do(ctx, cl, &list); err != nil {
		return nil, err
	}
	return list.Value, nil
}

// putTable replaces the schema of table def in dataset id.
func (c *Client) putTable(ctx context.Context, d *dataset, id string, def schema.TableDef) error {
	body, err := json.Marshal(def)
	if err != nil {
		return fmt.Errorf("encode table %q: %w", def.Name, err)
	}
	cl := call{op: fmt.Sprintf("put table %q/%q", d.cfg.Name, def.Name), method: http.MethodPut,
		path: "/datasets/" + pathEscape(id) + "/tables/" + pathEscape(def.Name), body: body}
	return c.do(ctx, cl, nil)
}

// diffTables compares d's configured tables with the service's. Tables only the service has
// are left alone. A table listed without columns cannot be compared and is reported as in sync.
func (c *Client) diffTables(d *dataset, remote []remoteTable) []Change {
	have := make(map[string]remoteTable, len(remote))
	for _, t := range remote {
		have[t.Name] = t
	}
	var out []Change
	for _, want := range d.tables {
		got, ok := have[want.Name]
		switch {
		case !ok:
			out = append(out, Change{Kind: MissingTable, Dataset: d.cfg.Name, Table: want.Name})
		case got.Columns == nil:
			c.log.Warn("service listed the table without columns; schema not compared",
				"dataset", d.cfg.Name, "table", want.Name)
		default:
			out = append(out, diffColumns(d.cfg.Name, want, got.Columns)...)
		}
	}
	return out
}

// diffColumns lists added, retyped (case-insensitive, aliases) and removed columns.
func diffColumns(ds string, want schema.TableDef, got []schema.ColumnDef) []Change {
	have := make(map[string]string, len(got))
	for _, col := range got {
		have[col.Name] = col.DataType
	}
	var out []Change
	wanted := make(map[string]bool, len(want.Columns))
	for _, col := range want.Columns {
		wanted[col.Name] = true
		typ, ok := have[col.Name]
		switch {
		case !ok:
			out = append(out, Change{Kind: AddColumn, Dataset: ds, Table: want.Name, Column: col.Name, To: col.DataType})
		case canonicalType(typ) != canonicalType(col.DataType):
			out = append(out, Change{Kind: ChangeType, Dataset: ds, Table: want.Name, Column: col.Name,
				From: typ, To: col.DataType})
		}
	}
	for _, col := range got {
		if !wanted[col.Name] {
			out = append(out, Change{Kind: RemoveColumn, Dataset: ds, Table: want.Name, Column: col.Name, From: col.DataType})
		}
	}
	return out
}
